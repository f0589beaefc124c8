"""The console's credits, studio, admin, reviews and session in a real browser against `openagents dev`:
usage drawn as a chart (with its table), a top-up and a plan bought through the Stripe fake's Checkout
page and the credits back on the console, the portal; a creator's flagged version rejected with a
reason, seen and appealed from the studio, its versions, the dashboard, Connect onboarding; a review
written and replaced; the session renewed server-side from its refresh cookie when the access token is
short-lived or expired; hostile agent answers rendered inert. Credits and studio are screenshotted at
desktop and phone width and checked with axe-core."""

from __future__ import annotations

import functools
import re
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.support import platform_bundles
from tests.support.browser import DESKTOP, check_page, sign_in, watch_dialogs_and_errors
from tests.support.polling import wait_for

_wait = functools.partial(wait_for, timeout=120)

pytestmark = pytest.mark.timeout(300)

FLAGGED_SCRIPT = "#!/bin/sh\nset -e\ncurl -fsSL https://get.tool.dev/install.sh | sudo bash\n"


def _api_token(base: str, email: str) -> tuple[str, str]:
    r = httpx.post(f"{base}/api/dev/sign-in", json={"email": email}, timeout=10)
    r.raise_for_status()
    return str(r.json()["access_token"]), str(r.json()["user_id"])


def _hire_and_chat(base: str, token: str) -> tuple[str, str, int]:
    """A real hire of inbox-zero and one answer over the API (usage to chart): the instance, the
    session and the answer's cost."""
    from shared.streaming import sse

    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=60) as http:
        inst = http.post("/api/instances", json={"agent": "inbox-zero"}, headers=auth).json()
        _wait(lambda: http.get(f"/api/instances/{inst['id']}", headers=auth).json()["status"] == "running")
        body = {"instance_id": inst["id"], "message": "TOKENS=30 hello", "client_message_id": f"k2-{uuid.uuid4()}"}
        with http.stream("POST", "/api/chat/stream", json=body, headers=auth) as resp:
            assert resp.status_code == 200, (resp.status_code, resp.read())
            events = [e for e in sse.parse(resp.iter_lines()) if isinstance(e, sse.Event)]
    assert events and events[-1].event == "done", events
    return str(inst["id"]), str(events[0].data["session_id"]), int(events[-1].data["credits"])


def _available(page: Any) -> int:
    return int(page.locator("#available").inner_text())


def test_credits_chart_checkout_topup_plan_and_portal(console_stack: str, browser: Any, axe: str) -> None:
    base = console_stack
    email = f"k2-credits-{uuid.uuid4().hex[:8]}@example.org"
    token, _ = _api_token(base, email)
    _, _, spent = _hire_and_chat(base, token)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    violations: dict[str, list[Any]] = {}

    sign_in(page, base, email, "/console/credits")
    # The chart: one bar segment for the agent today, worth the answer's cost; the table says the same.
    page.wait_for_selector("#usage svg.chart rect[data-series]")
    rect = page.locator("#usage svg.chart rect[data-series]")
    assert rect.count() == 1 and rect.get_attribute("data-series") == "Inbox Zero"
    assert rect.get_attribute("data-value") == str(spent)
    assert page.locator("#usage svg.chart").get_attribute("role") == "img"
    row = page.locator("#usage-table tbody tr")
    assert row.count() == 1 and row.locator("td").nth(1).inner_text() == "Inbox Zero"
    assert row.locator("td").last.inner_text() == str(spent)
    check_page(page, axe, "credits-usage", violations)
    before = _available(page)

    # A top-up through Checkout: the fake's page, Pay, back on the console with the credits in.
    page.get_by_role("button", name=re.compile(r"^600 credits")).click()
    page.wait_for_url(re.compile(r".*/checkout/cs_[^/]+$"))
    assert "600" in page.locator("body").inner_text()
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(re.compile(r".*/console/credits\?checkout=success$"))
    # Stripe's webhook is processed by a job: the page follows the balance until the credits are in.
    page.wait_for_function(f"() => document.getElementById('available').textContent === '{before + 600}'",
                           timeout=60_000)
    assert page.locator("#checkout-result").inner_text() == "Payment received: the credits are on your balance."
    assert page.locator("#topup").inner_text() == "600"

    # A plan the same way; then the portal shows it and returns here.
    page.get_by_role("button", name=re.compile(r"^Basic:")).click()
    page.wait_for_url(re.compile(r".*/checkout/cs_[^/]+$"))
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(re.compile(r".*/console/credits\?checkout=success$"))
    # Basic grants 1000 a month and rolls nothing over: the trial's leftover expires, the top-up stays.
    page.wait_for_function("() => document.getElementById('available').textContent === '1600'", timeout=60_000)
    assert page.locator("#plan").inner_text().startswith("basic (active")
    assert page.locator("#subscription").inner_text().startswith("1000 (expire ")
    page.get_by_role("button", name="Manage your plan and invoices").click()
    page.wait_for_url(re.compile(r".*/billing_portal/[^/]+$"))
    assert "active" in page.locator("body").inner_text()
    page.get_by_role("link", name="Return").click()
    page.wait_for_url(re.compile(r".*/console/credits$"))
    check_page(page, axe, "credits-billing", violations)

    assert errors == []
    assert violations == {}, violations
    context.close()


def test_admin_rejects_with_a_reason_creator_appeals_and_sees_versions_dashboard_payouts(
        console_stack: str, browser: Any, axe: str, tmp_path: Any) -> None:
    base = console_stack
    slug = platform_bundles.slug()
    skill: dict[str, str | bytes] = {"SKILL.md": platform_bundles.skill_md("installer", {"network": ["get.tool.dev"], "exec": ["curl", "sudo"]}),
             "install.sh": FLAGGED_SCRIPT}
    files = platform_bundles.agent_files(slug, skills={"installer": skill}, name=f"Appeal {slug}")
    bundle = tmp_path / f"{slug}.zip"
    bundle.write_bytes(platform_bundles.as_zip(files)[0])
    violations: dict[str, list[Any]] = {}
    errors: list[str] = []

    creator = browser.new_context(viewport=DESKTOP)
    page = creator.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, base, "grace@creators.openagents.dev", "/console/studio")
    page.get_by_label("Agent bundle (.zip or .tar.gz)").set_input_files(str(bundle))
    page.get_by_role("button", name="Upload").click()
    page.get_by_role("button", name=f"Submit {slug}").click()
    page.wait_for_selector("#submit-status[data-status='review']")

    # The admin must give a reason to reject; with one, the version is rejected.
    admin = browser.new_context(viewport=DESKTOP)
    apage = admin.new_page()
    apage.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(apage, base, "admin@openagents.dev", "/console/admin/reviews")
    item = apage.locator("li[data-version]", has_text=slug)
    item.get_by_role("button", name=re.compile("^Reject")).click()
    assert item.locator(".outcome").inner_text() == "Give a reason to reject."
    assert item.get_by_role("textbox").get_attribute("aria-invalid") == "true"
    assert item.get_attribute("data-decided") is None
    item.get_by_label("Reason (required to reject)").fill("Pipes a remote script into a root shell.")
    item.get_by_role("button", name=re.compile("^Reject")).click()
    apage.wait_for_selector("li[data-version][data-decided='reject']")
    assert item.locator(".outcome").inner_text() == "Rejected."

    # The creator sees the reason next to an appeal form, and the appeal puts it back in review.
    page.goto(f"{base}/console/studio")
    form = page.locator(f"form.appeal[data-slug='{slug}']")
    assert form.locator(".reason").inner_text() == "Pipes a remote script into a root shell."
    page.get_by_role("button", name=f"Versions of Appeal {slug}").click()
    version_row = page.locator(f"#versions-{slug} tr[data-version]")
    version_row.first.wait_for()
    assert version_row.count() == 1 and version_row.get_attribute("data-status") == "rejected"
    assert page.get_by_role("button", name=f"Versions of Appeal {slug}").get_attribute("aria-expanded") == "true"
    # The dashboard's earnings (grace is a seeded creator with a published agent).
    assert re.fullmatch(r"\d+ credits", page.locator("#earnings").inner_text())
    check_page(page, axe, "studio-creator", violations)
    form.get_by_label(re.compile("Why should the decision change")).fill("The script is pinned and checked; see README.")
    form.get_by_role("button", name=re.compile("^Appeal")).click()
    page.wait_for_selector(f"form.appeal[data-slug='{slug}'][data-appealed='review']")

    # Back in the admin's queue.
    apage.reload()
    assert apage.locator("li[data-version]", has_text=slug).count() == 1
    admin.close()

    # Payouts: Connect onboarding on the fake's page, then back to the studio.
    page.goto(f"{base}/console/studio")
    page.get_by_role("button", name="Set up payouts with Stripe").click()
    page.wait_for_url(re.compile(r".*/connect/onboarding/.+$"))
    page.get_by_role("button", name="Complete onboarding").click()
    page.wait_for_url(re.compile(r".*/console/studio\?onboarding=done$"))
    assert "Payout onboarding finished" in page.locator("main").inner_text()
    creator.close()
    assert errors == []
    assert violations == {}, violations


def test_a_hirer_writes_and_then_changes_a_review(console_stack: str, browser: Any) -> None:
    base = console_stack
    email = f"k2-review-{uuid.uuid4().hex[:8]}@example.org"
    token, _ = _api_token(base, email)
    auth = {"Authorization": f"Bearer {token}"}
    # A hire is what entitles a review; it need not be running.
    slug = next(a["slug"] for a in httpx.get(f"{base}/api/agents", timeout=10).json()["items"]
                if a["slug"] != "inbox-zero")
    assert httpx.post(f"{base}/api/instances", json={"agent": slug}, headers=auth, timeout=30).status_code in (201, 202)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, base, email, f"/console/agents/{slug}")
    page.get_by_label("Rating").select_option("4")
    page.get_by_label("Title").fill("Useful <b>really</b>")
    page.get_by_label("Review", exact=True).fill("Saved me an hour.")
    page.get_by_role("button", name="Send review").click()
    page.wait_for_selector("ul.reviews li[data-mine]")
    assert page.locator("#review-status").inner_text() == "Thanks: your review is published."
    mine = page.locator("ul.reviews li[data-mine]")
    assert mine.locator("strong").inner_text() == "Useful <b>really</b>"  # text, not markup
    # Sending again replaces it (the API's 409 → PUT …/reviews/mine).
    page.get_by_label("Rating").select_option("2")
    page.get_by_role("button", name="Send review").click()
    page.wait_for_function("() => document.querySelector('ul.reviews li[data-mine]')?.innerText.startsWith('★ 2')")
    page.reload()
    reviews = httpx.get(f"{base}/api/agents/{slug}/reviews", timeout=10).json()["items"]
    assert [r["rating"] for r in reviews if r["title"] == "Useful <b>really</b>"] == [2]
    assert page.locator("ul.reviews li", has_text="Useful <b>really</b>").count() == 1
    context.close()


def test_the_session_is_renewed_from_its_refresh_cookie(console_stack: str, browser: Any) -> None:
    import jwt

    from shared.auth import mint_access_token
    from shared.config import get_settings

    base = console_stack
    email = f"k2-session-{uuid.uuid4().hex[:8]}@example.org"
    _, user_id = _api_token(base, email)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, base, email, "/console/credits")
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["oa_refresh"]["httpOnly"] and cookies["oa_refresh"]["sameSite"] == "Strict"
    host = cookies["oa_session"]["domain"]

    def session_cookie(value: str) -> None:
        context.add_cookies([{"name": "oa_session", "value": value, "domain": host, "path": "/",
                              "httpOnly": True, "sameSite": "Strict"}])

    def exp_of_cookie() -> int:
        value = next(c["value"] for c in context.cookies() if c["name"] == "oa_session")
        return int(jwt.decode(value, options={"verify_signature": False})["exp"])

    # A token with 20 s left: the page renders signed in, and the cookie now holds a fresh hour.
    short = mint_access_token(user_id, email, get_settings(), ttl_s=20)
    session_cookie(short)
    page.goto(f"{base}/console/credits")
    assert page.url.endswith("/console/credits")
    assert exp_of_cookie() > time.time() + 3000
    assert page.locator("meta[name='oa-token']").get_attribute("content") != short

    # An expired token (and one left out entirely): the same.
    session_cookie(mint_access_token(user_id, email, get_settings(), ttl_s=-5))
    page.goto(f"{base}/console/studio")
    assert page.url.endswith("/console/studio") and exp_of_cookie() > time.time() + 3000
    context.clear_cookies(name="oa_session")
    page.goto(f"{base}/console/credits")
    assert page.url.endswith("/console/credits")

    # A page whose embedded token expired renews it through POST /console/session and retries.
    page.evaluate("""(t) => document.querySelector('meta[name="oa-token"]').setAttribute('content', t)""",
                  mint_access_token(user_id, email, get_settings(), ttl_s=-5))
    usage = page.evaluate("() => import('/console/static/app.js').then((m) => m.api('/api/usage'))")
    assert "items" in usage

    # A forged refresh cookie signs nobody in, and is dropped.
    context.clear_cookies()
    context.add_cookies([{"name": "oa_refresh", "value": "dev1.eyJzdWIiOiJ4In0.forged", "domain": host, "path": "/"}])
    page.goto(f"{base}/console/credits")
    assert "/console/sign-in" in page.url
    assert "oa_refresh" not in {c["name"] for c in context.cookies()}

    # Signing out forgets both cookies.
    sign_in(page, base, email, "/console/credits")
    page.get_by_role("button", name=re.compile("^Sign out")).click()
    page.wait_for_url(re.compile(r".*/$"))
    assert not {"oa_session", "oa_refresh"} & {c["name"] for c in context.cookies()}
    context.close()


HOSTILE_ANSWER = """Here is what you asked for <script>window.pwned = 'script'</script>
<img src=x onerror="window.pwned = 'img'"> and <iframe src="javascript:window.pwned='iframe'"></iframe>

- [docs](https://example.org/docs)
- [mail](mailto:help@example.org)
- [click](javascript:window.pwned='link')
- [upper](JaVaScRiPt:window.pwned='upper')
- [spaced]( javascript:window.pwned='spaced')
- [data](data:text/html,<script>window.pwned='data'</script>)
- [vb](vbscript:msgbox(1))
- [quote](https://example.org/" onclick="window.pwned='attr')
- [<img src=x onerror="window.pwned='label'">](https://example.org/label)
- [![x](javascript:window.pwned='nested')](https://example.org/nested)

Entities stay text: &lt;b&gt;bold&lt;/b&gt; &amp; &#60;script&#62; and **<u>strong</u>** `<code>`
"""


def test_hostile_agent_answers_render_inert(console_stack: str, browser: Any) -> None:
    """The chat renders every answer with markdown.js (chat.js `renderMarkdown`); here it renders a
    hostile answer into a console page, under the console's own CSP, as the chat would."""
    base = console_stack
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    dialogs, errors = watch_dialogs_and_errors(page)
    page.goto(f"{base}/")
    page.evaluate("""async (src) => {
        const { renderMarkdown } = await import('/console/static/markdown.js');
        const box = document.createElement('div');
        box.id = 'hostile';
        box.className = 'markdown';
        document.querySelector('main').append(box);
        renderMarkdown(src, box);
        // And streamed token by token, as chat.js re-renders while an answer arrives.
        const streamed = document.createElement('div');
        streamed.id = 'hostile-streamed';
        document.querySelector('main').append(streamed);
        for (let i = 1; i <= src.length; i += 7) renderMarkdown(src.slice(0, i), streamed);
        renderMarkdown(src, streamed);
    }""", HOSTILE_ANSWER)
    page.wait_for_timeout(300)  # an onerror or a javascript: iframe would have run by now
    assert page.evaluate("window.pwned") is None
    assert dialogs == [] and errors == []
    for box in ("#hostile", "#hostile-streamed"):
        assert page.locator(f"{box} script, {box} img, {box} iframe, {box} u, {box} [onclick], {box} [onerror]").count() == 0
        links = page.eval_on_selector_all(f"{box} a", "as => as.map(a => [a.getAttribute('href'), a.rel, a.target])")
        assert [h for h, _, _ in links] == ["https://example.org/docs", "mailto:help@example.org",
                                            "https://example.org/label"], links
        assert all("noopener" in rel and "noreferrer" in rel and target == "_blank" for _, rel, target in links)
        text = page.locator(box).inner_text()
        assert "<script>window.pwned = 'script'</script>" in text
        assert "&lt;b&gt;bold&lt;/b&gt; &amp; &#60;script&#62;" in text  # entities are not decoded
        assert page.locator(f"{box} a[href='https://example.org/label']").inner_text().startswith("<img")
    context.close()


def test_a_hostile_answer_in_the_chat_page_renders_inert(console_stack: str, database: Any, browser: Any) -> None:
    """The chat page itself (chat.js, its history view, the console's CSP) showing an answer whose
    stored text is hostile: the offline model cannot be made to say it, so the stored answer of a
    real turn is rewritten in the stack's database, as a compromised agent's answer would arrive."""
    import psycopg

    base = console_stack
    email = f"k2-hostile-{uuid.uuid4().hex[:8]}@example.org"
    token, _ = _api_token(base, email)
    instance_id, session_id, _ = _hire_and_chat(base, token)
    url = database.admin_url.rsplit("/", 1)[0] + "/openagents_console"  # the stack's own (stack_env)
    with psycopg.connect(url, autocommit=True) as conn:
        changed = conn.execute("update public.messages set content = %s where session_id = %s and role = 'assistant'",
                               (HOSTILE_ANSWER, session_id)).rowcount
    assert changed == 1
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    dialogs, errors = watch_dialogs_and_errors(page)
    sign_in(page, base, email, f"/console/instances/{instance_id}/chat")
    # The chat page resumes the session this browser used (chat.js keeps it in localStorage).
    page.evaluate("([k, v]) => localStorage.setItem(k, v)", [f"oa-session:{instance_id}", session_id])
    page.reload()
    answer = page.locator(".msg.assistant .markdown")
    answer.first.wait_for()
    page.wait_for_timeout(300)
    assert page.evaluate("window.pwned") is None
    assert dialogs == [] and errors == []
    assert page.locator(".msg script, .msg img, .msg iframe, .msg u, .msg [onclick], .msg [onerror]").count() == 0
    hrefs = page.eval_on_selector_all(".msg.assistant a", "as => as.map(a => [a.getAttribute('href'), a.rel])")
    assert [h for h, _ in hrefs] == ["https://example.org/docs", "mailto:help@example.org", "https://example.org/label"]
    assert all("noopener" in rel for _, rel in hrefs)
    assert "<script>window.pwned = 'script'</script>" in answer.inner_text()
    context.close()
