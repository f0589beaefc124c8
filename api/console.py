"""The web console: server-rendered pages at `/` and `/console/...`, with small ES modules.

Session: the access token lives in an HttpOnly, SameSite=Strict cookie that this app sets. Pages are
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
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Flask, Response, abort, g, redirect, render_template, request, send_from_directory
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from shared.auth import User
from shared.problems import Problem

log = logging.getLogger("openagents.console")

ROOT = Path(__file__).resolve().parents[1] / "console"
SESSION_COOKIE = "oa_session"
CSRF_COOKIE = "oa_csrf"
SORTS = ("relevance", "popular", "rating", "new")

app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=None)
app.url_map.strict_slashes = False


class SignInForm(BaseModel):
    email: str
    password: str = ""


def _settings() -> Any:
    from shared.config import get_settings

    return get_settings()


def _supabase_configured() -> bool:
    s = _settings()
    return bool(s.SUPABASE_URL and s.SUPABASE_ANON_KEY)


def _current_user() -> User | None:
    token = request.cookies.get(SESSION_COOKIE)
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


@app.before_request
def _load_session() -> None:
    g.user = _current_user()
    g.token = request.cookies.get(SESSION_COOKIE) if g.user is not None else None
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


@app.after_request
def _headers(resp: Response) -> Response:
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
    from shared.lifecycle.instances import get_instance

    user = _signed_in()
    return page("instance.html", instance=get_instance(user, str(instance_id)))


@app.get("/console/instances/<uuid:instance_id>/chat")
def chat_page(instance_id: Any) -> str:
    from shared.lifecycle.instances import get_instance

    user = _signed_in()
    return page("chat.html", instance=get_instance(user, str(instance_id)))


@app.get("/console/credits")
def credits_page() -> str:
    from shared.billing import ledger
    from shared.pagination import PageQuery

    user = _signed_in()
    return page("credits.html", credits=ledger.credits(user, PageQuery(limit=50)))


@app.get("/console/studio")
def studio_page() -> str:
    from shared.pagination import PageQuery
    from shared.platform import drafts

    user = _signed_in()
    return page("studio.html", agents=drafts.list_mine(user, PageQuery(limit=50)).items)


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
        token = _supabase_sign_in(form) if _supabase_configured() else _dev_sign_in(form)
    except (Problem, ValidationError) as exc:
        message = exc.detail if isinstance(exc, Problem) else "Enter a valid e-mail address."
        return page("sign_in.html", next=nxt, error=message), 400
    resp = redirect(nxt, code=303)
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", secure=_secure(), path="/",
                    max_age=3600)
    return resp


def _dev_sign_in(form: SignInForm) -> str:
    if _settings().is_production:
        raise Problem(404, "Not Found", "Dev sign-in does not exist in production.", code="not-found")
    from shared import accounts

    return accounts.dev_sign_in(accounts.SignIn(email=form.email)).access_token


def _supabase_sign_in(form: SignInForm) -> str:
    """Supabase Auth's password grant, from the server with the anon key (never the service role)."""
    import httpx

    s = _settings()
    resp = httpx.post(f"{s.SUPABASE_URL.rstrip('/')}/auth/v1/token", params={"grant_type": "password"},
                      headers={"apikey": s.SUPABASE_ANON_KEY.get_secret_value()},
                      json={"email": form.email, "password": form.password}, timeout=10)
    if resp.status_code != 200:
        raise Problem(400, "Bad Request", "That e-mail and password did not sign you in.", code="sign-in-failed")
    token: str = resp.json()["access_token"]
    return token


@app.post("/console/sign-out")
def sign_out() -> BaseResponse:
    resp = redirect("/", code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/", samesite="Strict")
    return resp


@app.get("/console/static/<path:name>")
def static_file(name: str) -> Response:
    resp = send_from_directory(ROOT / "static", name, max_age=0)
    return resp


@app.template_filter("tojson_attr")
def _tojson_attr(value: Any) -> str:
    return json.dumps(value, default=str)
