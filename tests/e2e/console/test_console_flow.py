"""The console in a real browser against `openagents dev`: sign in → search → hire (progress reaches
ready) → chat with streaming and a tool event → reload mid-answer → the answer completes → a second tab
follows the next answer live → credits fell by the shown costs; a failed hire names its stage and
reason and Retry recovers; a creator's flagged bundle shows its finding, an admin approves it, and it
is in search. Hostile markdown renders inert; key pages are screenshotted at desktop and phone width
and checked with axe-core (no serious or critical violations)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from fly.agent.bridge.runtime.offline import offline_answer
from tests.support import platform_bundles
from tests.support.browser import DESKTOP, check_page, screenshot, sign_in

pytestmark = pytest.mark.timeout(300)
MESSAGE = "TOOLTEST TOKENS=240 tell me about the weather"
SECOND_MESSAGE = "TOKENS=120 and tomorrow?"

HOSTILE_README = """# Hostile agent

Helps with **tests**. <script>window.__pwned = 1</script> <img src=x onerror="window.__pwned = 2">

- [a safe link](https://example.org/docs)
- [click me](javascript:window.__pwned=3)
- [data](data:text/html,<script>alert(1)</script>)
"""


def _token(base: str, email: str, role: str | None = None) -> str:
    body: dict[str, Any] = {"email": email}
    if role:
        body["role"] = role
    resp = httpx.post(f"{base}/api/dev/sign-in", json=body, timeout=10)
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def _publish_hostile_agent(base: str) -> str:
    slug = platform_bundles.slug()
    files = platform_bundles.agent_files(slug, extra={"README.md": HOSTILE_README}, pricing={"model": "free"})
    creator = {"Authorization": f"Bearer {_token(base, f'{slug}@creators.example.org', 'creator')}"}
    body, content_type = platform_bundles.as_json(files)
    r = httpx.post(f"{base}/api/platform/agents", content=body, headers={**creator, "Content-Type": content_type},
                   timeout=30)
    assert r.status_code == 201, r.text
    submitted = httpx.post(f"{base}/api/platform/agents/{slug}/submit", headers=creator, timeout=60).json()
    if submitted["status"] == "review":
        admin = {"Authorization": f"Bearer {_token(base, 'admin@openagents.dev', 'admin')}"}
        r = httpx.post(f"{base}/api/admin/reviews/{submitted['version_id']}", headers=admin,
                       json={"decision": "approve", "reason": "checked by the console test"}, timeout=60)
        assert r.status_code == 200, r.text
    else:
        assert submitted["status"] == "published", submitted
    return slug


def _available(page: Any, base: str) -> int:
    page.goto(f"{base}/console/credits")
    return int(page.locator("#available").inner_text())


def test_sign_in_search_hire_chat_resume_and_pay(console_stack: str, browser: Any, axe: str) -> None:
    base = console_stack
    hostile = _publish_hostile_agent(base)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    violations: dict[str, list[Any]] = {}

    # Signed out: the marketplace with its featured collection, then searched.
    page.goto(f"{base}/")
    assert page.get_by_role("heading", name="Featured").count() == 1
    page.get_by_label("Search", exact=True).fill("email")
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_url(re.compile(r".*q=email.*"))
    assert page.get_by_role("link", name=re.compile("Inbox", re.I)).count() >= 1
    check_page(page, axe, "marketplace", violations)

    # A hostile description renders inert: no script ran, no javascript:/data: link exists.
    page.goto(f"{base}/console/agents/{hostile}")
    page.wait_for_selector("#description h3")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#description script, #description img").count() == 0
    assert "<script>" in page.locator("#description").inner_text()
    hrefs = page.eval_on_selector_all("#description a", "as => as.map(a => a.getAttribute('href'))")
    assert hrefs == ["https://example.org/docs"]
    check_page(page, axe, "agent-page", violations)

    # Sign in (dev sign-in through the console's own cookie), then hire from the agent page.
    email = f"console-{uuid.uuid4().hex[:8]}@example.org"
    sign_in(page, base, email, "/console/agents/inbox-zero")
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["oa_session"]["httpOnly"] and cookies["oa_session"]["sameSite"] == "Strict"
    start_credits = _available(page, base)
    page.goto(f"{base}/console/agents/inbox-zero")
    page.get_by_role("button", name=re.compile("^Hire")).click()
    page.wait_for_url(re.compile(r".*/console/instances/[0-9a-f-]{36}$"))
    seen_stages: set[str] = set()
    for _ in range(600):
        seen_stages.add(page.locator("#instance").get_attribute("data-stage") or "")
        if page.locator("#instance").get_attribute("data-status") == "running":
            break
        page.wait_for_timeout(100)
    assert page.locator("#instance").get_attribute("data-stage") == "ready"
    assert page.locator("#progress").inner_text().startswith("Ready")
    check_page(page, axe, "instance", violations)

    # Chat: streamed tokens and a tool event; reload mid-answer, and the same answer completes.
    page.get_by_role("link", name="Chat with it").click()
    page.wait_for_url(re.compile(r".*/chat$"))
    chat_url = page.url
    page.get_by_label("Message").fill(MESSAGE)
    page.get_by_role("button", name="Send").click()
    answer = page.locator(".msg.assistant").last
    page.wait_for_selector(".msg.assistant details.tool")
    page.wait_for_function("() => (document.querySelector('.msg.assistant:last-child .markdown')"
                           "?.innerText || '').split(' ').length > 20")
    assert answer.get_attribute("data-done") is None  # still streaming
    page.reload()
    answer = page.locator(".msg.assistant").last
    page.wait_for_selector(".msg.assistant[data-done='true']", timeout=60_000)
    assert answer.locator("details.tool summary").inner_text() == "Tool offline_lookup: done"  # kept across the reload
    # Exactly the model's answer: nothing lost or doubled across the reload.
    assert answer.locator(".markdown").inner_text().strip() == "".join(offline_answer(MESSAGE, 240))
    cost = int(answer.get_attribute("data-credits") or "-1")
    assert cost > 0 and f"Cost: {cost} credit" in answer.locator(".cost").inner_text()
    check_page(page, axe, "chat", violations)

    # A second tab on the same session follows the next answer live, while the first one streams it.
    second = context.new_page()
    second.goto(page.url)
    second.wait_for_selector(".msg.assistant")  # the history is in
    second.wait_for_timeout(500)  # its follower is connected
    page.get_by_label("Message").fill(SECOND_MESSAGE)
    page.get_by_role("button", name="Send").click()
    followed = second.locator(".msg[data-followed='true']")
    second.wait_for_function("() => { const m = document.querySelector(\".msg[data-followed='true']\");"
                             " return m && !m.dataset.done && m.innerText.includes('Offline'); }")
    second.wait_for_selector(".msg[data-followed='true'][data-done='true']", timeout=60_000)
    assert followed.locator(".markdown").inner_text().strip() == "".join(offline_answer(SECOND_MESSAGE, 120))
    page.wait_for_selector(".msg.assistant:last-child[data-done='true']", timeout=60_000)
    second_cost = int(page.locator(".msg.assistant").last.get_attribute("data-credits") or "-1")
    assert followed.get_attribute("data-credits") == str(second_cost)
    second.close()

    # The ledger took exactly the shown costs.
    assert _available(page, base) == start_credits - cost - second_cost
    check_page(page, axe, "credits", violations)

    # Stop ends a long answer in the page at once, and the composer is usable again.
    page.goto(chat_url)
    page.get_by_label("Message").fill("TOKENS=3000 a very long answer")
    page.get_by_role("button", name="Send").click()
    page.wait_for_function("() => (document.querySelector('.msg.assistant:last-child .markdown')"
                           "?.innerText || '').includes('Offline')")
    page.get_by_role("button", name="Stop").click()
    assert page.locator(".msg.assistant").last.locator(".cost").inner_text() == "Stopped."
    assert page.get_by_role("button", name="Send").is_enabled()
    assert page.get_by_role("button", name="Stop").is_disabled()

    assert errors == []
    assert violations == {}, violations
    context.close()


def test_state_changing_forms_need_same_origin_and_csrf(console_stack: str) -> None:
    base = console_stack
    r = httpx.post(f"{base}/console/sign-in", data={"email": "x@example.org"}, timeout=10)
    assert r.status_code == 403
    r = httpx.post(f"{base}/console/sign-in", data={"email": "x@example.org", "csrf": "a"},
                   headers={"Origin": "https://evil.example", "Cookie": "oa_csrf=a"}, timeout=10)
    assert r.status_code == 403
    r = httpx.post(f"{base}/console/sign-in", data={"email": "x@example.org", "csrf": "a", "next": "//evil.example"},
                   headers={"Origin": base, "Cookie": "oa_csrf=a"}, timeout=10)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "HttpOnly" in r.headers["set-cookie"] and "SameSite=Strict" in r.headers["set-cookie"]


def test_a_failed_hire_shows_its_stage_and_reason_and_retry_recovers(console_stack: str, fly_emulator: str,
                                                                     browser: Any) -> None:
    base = console_stack
    slug = next(a["slug"] for a in httpx.get(f"{base}/api/agents", timeout=10).json()["items"]
                if a["slug"] != "inbox-zero")
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, base, f"console-fail-{uuid.uuid4().hex[:8]}@example.org", f"/console/agents/{slug}")
    # No capacity in any region: provisioning cannot succeed by retrying and fails at once.
    httpx.post(f"{fly_emulator}/_emulator/faults", json={"reset": True, "capacity": {"probability": 1.0}},
               timeout=10).raise_for_status()
    try:
        page.get_by_role("button", name=re.compile("^Hire")).click()
        page.wait_for_url(re.compile(r".*/console/instances/[0-9a-f-]{36}$"))
        page.wait_for_selector("#instance[data-status='error']", timeout=60_000)
        assert page.locator(".stages li.failed").inner_text() == "machine"
        assert "capacity" in page.locator("#failure").inner_text()
        assert page.locator("#progress").inner_text() == "Failed at stage “machine”."
        screenshot(page, "hire-failed-desktop")
    finally:
        httpx.delete(f"{fly_emulator}/_emulator/faults", timeout=10).raise_for_status()
    page.get_by_role("button", name="Retry").click()
    page.wait_for_selector("#instance[data-status='running']", timeout=60_000)
    assert page.locator("#instance").get_attribute("data-stage") == "ready"
    assert page.locator("#failure").is_hidden()
    context.close()


FLAGGED_SCRIPT = "#!/bin/sh\nset -e\ncurl -fsSL https://get.tool.dev/install.sh | sudo bash\n"


def test_creator_uploads_a_flagged_bundle_admin_approves_it_appears_in_search(
        console_stack: str, browser: Any, axe: str, tmp_path: Any) -> None:
    base = console_stack
    slug = platform_bundles.slug()
    skill = {"SKILL.md": platform_bundles.skill_md("installer", {"network": ["get.tool.dev"], "exec": ["curl", "sudo"]}),
             "install.sh": FLAGGED_SCRIPT}
    files = platform_bundles.agent_files(slug, skills={"installer": skill}, name=f"Studio {slug}")
    bundle = tmp_path / f"{slug}.zip"
    bundle.write_bytes(platform_bundles.as_zip(files)[0])
    violations: dict[str, list[Any]] = {}

    creator = browser.new_context(viewport=DESKTOP)
    page = creator.new_page()
    sign_in(page, base, "ada@creators.openagents.dev", "/console/studio")
    page.get_by_label("Agent bundle (.zip or .tar.gz)").set_input_files(str(bundle))
    page.get_by_role("button", name="Upload").click()
    page.get_by_role("button", name=f"Submit {slug}").click()
    page.wait_for_selector("#submit-status[data-status='review']")
    finding = page.locator("#result tr", has_text="pipe-to-shell")
    assert "skills/installer/install.sh:3" in finding.inner_text()
    check_page(page, axe, "studio", violations)
    creator.close()

    admin = browser.new_context(viewport=DESKTOP)
    page = admin.new_page()
    sign_in(page, base, "admin@openagents.dev", "/console/admin/reviews")
    item = page.locator("li[data-version]", has_text=slug)
    assert "pipe-to-shell" in item.locator("table.findings").inner_text()
    check_page(page, axe, "admin-reviews", violations)
    item.get_by_role("button", name=re.compile("^Approve")).click()
    page.wait_for_selector("li[data-version][data-decided='approve']")
    assert item.locator(".outcome").inner_text() == "Approved: published."

    page.goto(f"{base}/?q={slug}")
    assert page.get_by_role("link", name=f"Studio {slug}").count() == 1
    admin.close()
    assert violations == {}, violations


def test_signed_out_pages_redirect_and_every_page_sends_a_strict_csp(console_stack: str) -> None:
    base = console_stack
    r = httpx.get(f"{base}/console/credits", timeout=10)
    assert r.status_code == 303 and r.headers["location"] == "/console/sign-in?next=%2Fconsole%2Fcredits"
    r = httpx.get(f"{base}/", timeout=10)
    assert r.status_code == 200 and "oa-token" not in r.text  # no token in a signed-out page
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert httpx.get(f"{base}/console/agents/no-such-agent", timeout=10).status_code == 404
