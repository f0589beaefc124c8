"""The web console: server-rendered pages at `/` and `/console/...`, with small ES modules.

Session: the access token lives in an HttpOnly, SameSite=Strict cookie that this app sets, next to a
refresh token in another; a request whose access token is missing, expired or close to expiring renews
it on the server first (shared/web/console_session.py), so a session outlives the token's hour. Pages are
rendered by calling the same `shared` functions the API uses, acting as the signed-in user. Browser
code talks to the public JSON API with `Authorization: Bearer`, from the token the page embeds in a
`<meta>` tag (EventSource can't send headers, so streams are read with fetch). The trade-off: a script
injected into a console page could read that token, which is why everything a page shows from others
(listings, agent output) is rendered as text, never as HTML, and pages send a strict CSP. Forms that
change state here (sign in, sign out) must come from this origin (Origin/Referer check) and carry the
double-submit CSRF token; the service role never reaches the browser.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from flask import Flask, Response, abort, g, redirect, render_template, request, send_from_directory
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from shared.auth import User
from shared.models import Model
from shared.problems import Problem

if TYPE_CHECKING:
    from shared.web.console_session import Tokens

log = logging.getLogger("openagents.console")

ROOT = Path(__file__).resolve().parents[1] / "console"
SESSION_COOKIE = "oa_session"
REFRESH_COOKIE = "oa_refresh"
CSRF_COOKIE = "oa_csrf"
SORTS = ("relevance", "popular", "rating", "new")

app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=None)
app.url_map.strict_slashes = False


class SignInForm(Model):
    email: str
    password: str = ""


def _settings() -> Any:
    from shared.config import get_settings

    return get_settings()


def _supabase_configured() -> bool:
    s = _settings()
    return bool(s.SUPABASE_URL and s.SUPABASE_ANON_KEY)


def _user_of(token: str | None) -> User | None:
    if not token:
        return None
    from shared.auth import verify_access_token

    try:
        user = verify_access_token(token, _settings())
    except Problem:
        return None  # expired or forged: the page renders signed out
    from shared.security.account_gate import refuse_deleted

    try:
        refuse_deleted(user)
    except Problem:
        return None
    return user


def _current_session() -> tuple[User | None, str | None]:
    from shared.web import console_session

    token = request.cookies.get(SESSION_COOKIE)
    user = _user_of(token)
    refresh_token = request.cookies.get(REFRESH_COOKIE)
    if refresh_token and (user is None or console_session.needs_refresh(user.claims)):
        try:
            tokens = console_session.refresh(refresh_token, _settings(), supabase=_supabase_configured())
        except Problem as exc:
            if exc.status == 401 and user is None:
                g.session_ended = True  # the refresh token is spent: forget it
            return user, token if user else None
        renewed = _user_of(tokens.access_token)
        if renewed is not None:
            g.renewed = tokens
            return renewed, tokens.access_token
    return user, token if user else None


@app.before_request
def _load_session() -> None:
    # Static files need no session, and renewing from each of a page's parallel asset requests
    # would spend the (rotating) refresh token several times over.
    g.user, g.token = (None, None) if request.endpoint == "static_file" else _current_session()
    # One CSRF token per browser, kept in a cookie and echoed in every form (double submit).
    g.csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        _check_same_origin()
        sent = request.form.get("csrf", "")
        if not hmac.compare_digest(sent, request.cookies.get(CSRF_COOKIE, "")) or not sent:
            abort(403, "The form's CSRF token does not match; reload the page and try again.")


def _secure() -> bool:
    """Cookies are Secure in production (served over https) and wherever the request came over https."""
    return bool(_settings().is_production or request.is_secure)


def _check_same_origin() -> None:
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        abort(403, "A state-changing request must say where it comes from.")
    # The host alone: behind Vercel's proxy the request's own scheme may read http while the page is https.
    if urlsplit(origin).netloc != request.host:
        abort(403, "A state-changing request must come from this site.")


def _set_session(resp: BaseResponse, tokens: Tokens) -> None:
    from shared.web.console_session import REFRESH_TTL_S

    # The access cookie lasts as long as its token; the refresh cookie as long as the sign-in.
    resp.set_cookie(SESSION_COOKIE, tokens.access_token, httponly=True, samesite="Strict", secure=_secure(),
                    path="/", max_age=max(60, tokens.expires_at - int(time.time())))
    resp.set_cookie(REFRESH_COOKIE, tokens.refresh_token, httponly=True, samesite="Strict", secure=_secure(),
                    path="/", max_age=REFRESH_TTL_S)


def _end_session(resp: BaseResponse) -> None:
    resp.delete_cookie(SESSION_COOKIE, path="/", samesite="Strict")
    resp.delete_cookie(REFRESH_COOKIE, path="/", samesite="Strict")


@app.after_request
def _headers(resp: Response) -> Response:
    if g.get("renewed") is not None and not g.get("signed_out"):
        _set_session(resp, g.renewed)
    elif g.get("session_ended"):
        _end_session(resp)
    if CSRF_COOKIE not in request.cookies:
        resp.set_cookie(CSRF_COOKIE, g.get("csrf", secrets.token_urlsafe(24)), httponly=True, samesite="Strict",
                        secure=_secure(), path="/")
    resp.headers.setdefault("Cache-Control", "no-store")
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["X-Frame-Options"] = "DENY"
    # No inline script, no foreign origins: agent output rendered by mistake as HTML still can't run.
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'")
    return resp


@app.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int]:
    return page("error.html", status=exc.code or 500, message=exc.description or exc.name), exc.code or 500


@app.errorhandler(Problem)
def _problem(exc: Problem) -> tuple[str, int]:
    return page("error.html", status=exc.status, message=exc.detail or exc.title), exc.status


def page(template: str, **values: Any) -> str:
    return render_template(template, user=g.get("user"), token=g.get("token"), csrf=g.get("csrf"),
                           supabase=_supabase_configured(), dev_sign_in=not _settings().is_production, **values)


def _signed_in() -> User:
    user: User | None = g.get("user")
    if user is None:
        # A response carried by the exception: Flask returns it as it is (no error page).
        nxt = request.full_path if request.query_string else request.path
        abort(redirect(f"/console/sign-in?next={quote(nxt, safe='')}", code=303))
    return user


def _safe_next(value: str | None) -> str:
    # Only a path on this site: `//evil` or `https://…` would be an open redirect.
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


# --- pages -----------------------------------------------------------------------------------------

@app.get("/")
@app.get("/console")
@app.get("/console/agents")
def marketplace_page() -> str:
    from shared import marketplace

    raw = {k: v for k, v in request.args.items() if v != ""}
    tags = [t for t in request.args.getlist("tag") if t]
    try:
        query = marketplace.AgentQuery.model_validate({**raw, **({"tag": tags} if tags else {})})
    except ValidationError:
        query = marketplace.AgentQuery()
    results = marketplace.list_agents(g.user, query)
    # Collections on the plain front page only: a search shows its results alone.
    collections = [] if raw or tags else marketplace.list_collections(
        g.user, marketplace.CollectionQuery(featured=True, limit=3)).items
    return page("marketplace.html", results=results, query=query, sorts=SORTS, args=raw, collections=collections)


@app.get("/console/agents/<slug>")
def agent_page(slug: str) -> str:
    from shared import marketplace, reviews
    from shared.pagination import PageQuery

    agent = marketplace.get_agent(g.user, slug)
    agent_reviews = reviews.list_reviews(g.user, slug, PageQuery(limit=10))
    return page("agent.html", agent=agent, reviews=agent_reviews.items)


@app.get("/console/instances")
def instances_page() -> str:
    from shared.lifecycle.instances import list_instances
    from shared.lifecycle.models import InstanceQuery

    user = _signed_in()
    return page("instances.html", instances=list_instances(user, InstanceQuery()).items)


@app.get("/console/instances/<uuid:instance_id>")
def instance_page(instance_id: Any) -> str:
    from shared.billing import ledger
    from shared.billing.plans import spend_caps
    from shared.lifecycle.instances import get_instance
    from shared.pagination import PageQuery

    user = _signed_in()
    instance = get_instance(user, str(instance_id))
    # The plan's default caps, so the spend-cap form can say what an empty field means.
    balance = ledger.credits(user, PageQuery(limit=1)).balance
    return page("instance.html", instance=instance, plan=balance.plan,
                plan_caps=spend_caps(balance.plan, balance.plan_status))


@app.get("/console/instances/<uuid:instance_id>/chat")
def chat_page(instance_id: Any) -> str:
    from shared.lifecycle.instances import get_instance

    user = _signed_in()
    return page("chat.html", instance=get_instance(user, str(instance_id)))


@app.get("/console/credits")
def credits_page() -> str:
    from shared.billing import ledger
    from shared.billing.plans import PLANS, TOPUPS
    from shared.pagination import PageQuery

    user = _signed_in()
    plans = [p for name, p in PLANS.items() if name != "trial"]
    return page("credits.html", credits=ledger.credits(user, PageQuery(limit=50)), plans=plans,
                topups=list(TOPUPS.values()), checkout=request.args.get("checkout"))


@app.get("/console/studio")
def studio_page() -> str:
    from shared.pagination import PageQuery
    from shared.platform import dashboard, drafts
    from shared.platform.models import DashboardQuery

    user = _signed_in()
    agents = drafts.list_mine(user, PageQuery(limit=50)).items
    try:
        numbers = dashboard.dashboard(user, DashboardQuery())
    except Problem:
        numbers = None  # not a creator yet: the page offers the upload alone
    # A rejected version's reason, shown with its appeal form (the rest load on demand in studio.js).
    rejected = {a.slug: drafts.get_mine(user, a.slug).version for a in agents if a.version_status == "rejected"}
    return page("studio.html", agents=agents, dashboard=numbers, rejected=rejected,
                onboarding=request.args.get("onboarding"))


# Where Stripe sends the browser back (shared/billing/checkout.py names these paths): the console's pages.
@app.get("/billing")
def billing_return() -> BaseResponse:
    checkout = request.args.get("checkout")
    return redirect("/console/credits" + (f"?checkout={quote(checkout, safe='')}" if checkout else ""), code=303)


@app.get("/creator/payouts")
def payouts_return() -> BaseResponse:
    onboarding = request.args.get("onboarding")
    return redirect("/console/studio" + (f"?onboarding={quote(onboarding, safe='')}" if onboarding else ""),
                    code=303)


@app.get("/console/admin/reviews")
def admin_reviews_page() -> str:
    from shared.platform import review
    from shared.platform.models import ReviewQuery

    user = _signed_in()
    return page("admin_reviews.html", items=review.queue(user, ReviewQuery(limit=50)).items)


@app.get("/console/sign-in")
def sign_in_page() -> str:
    return page("sign_in.html", next=_safe_next(request.args.get("next")), error=None)


@app.post("/console/sign-in")
def sign_in() -> BaseResponse | tuple[str, int]:
    nxt = _safe_next(request.form.get("next"))
    try:
        form = SignInForm.model_validate({"email": request.form.get("email", ""),
                                          "password": request.form.get("password", "")})
        from shared.web import console_session

        tokens = (console_session.supabase_sign_in(form.email, form.password, _settings())
                  if _supabase_configured() else _dev_sign_in(form))
    except (Problem, ValidationError) as exc:
        message = exc.detail if isinstance(exc, Problem) else "Enter a valid e-mail address."
        return page("sign_in.html", next=nxt, error=message), 400
    resp = redirect(nxt, code=303)
    _set_session(resp, tokens)
    # This response carries the new sign-in: no renewal or ending of an older one may overwrite it.
    g.renewed = None
    g.session_ended = False
    return resp


def _dev_sign_in(form: SignInForm) -> Tokens:
    if _settings().is_production:
        raise Problem(404, "Not Found", "Dev sign-in does not exist in production.", code="not-found")
    from shared import accounts
    from shared.web import console_session

    body = accounts.SignIn(email=form.email)
    signed = accounts.dev_sign_in(body)
    return console_session.Tokens(
        access_token=signed.access_token, expires_at=int(time.time()) + signed.expires_in,
        refresh_token=console_session.dev_refresh_token(str(signed.user_id), body.email, _settings()))


@app.post("/console/session")
def renew_session() -> Response:
    """The page's scripts ask here for a fresh access token when the API says theirs expired (the
    renewal itself happened in `_load_session`); same-origin and CSRF checked like every form."""
    if g.user is None:
        abort(401, "The session ended; sign in again.")
    exp = int(g.user.claims.get("exp", 0))
    return Response(json.dumps({"access_token": g.token, "expires_at": exp}), mimetype="application/json")


@app.post("/console/sign-out")
def sign_out() -> BaseResponse:
    resp = redirect("/", code=303)
    _end_session(resp)
    g.signed_out = True
    return resp


# A link token as `shared.relays.linking` makes it (base64url; Telegram allows up to 64 characters).
_LINK_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@app.get("/console/qr")
def link_qr() -> Response:
    """A QR code (SVG) of a relay deep link. Only our own bot's link with a token-shaped payload is
    drawn: the route is no general QR service, so it cannot be made to vouch for someone else's URL."""
    from shared.relays.telegram import deep_link

    _signed_in()
    data = request.args.get("data", "")
    prefix = deep_link("")
    if not data.startswith(prefix) or not _LINK_TOKEN.match(data[len(prefix):]):
        abort(400, "Only the console's own relay links are drawn as QR codes.")
    import io

    import segno

    out = io.BytesIO()
    segno.make(data, error="m").save(out, kind="svg", scale=5, border=4, dark="#000", light="#fff",
                                     xmldecl=False, title="QR code of the Telegram link")
    return Response(out.getvalue(), mimetype="image/svg+xml")


@app.get("/console/static/<path:name>")
def static_file(name: str) -> Response:
    resp = send_from_directory(ROOT / "static", name, max_age=0)
    return resp


@app.template_filter("tojson_attr")
def _tojson_attr(value: Any) -> str:
    return json.dumps(value, default=str)
