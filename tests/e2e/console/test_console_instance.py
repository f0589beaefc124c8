"""The instance page in a real browser against `openagents dev`: its usage by day, its chat sessions with their history,
the file tree and editor (an edit is
saved; an edit made meanwhile through the API shows as a conflict, and overwriting resolves it; a
signed skill opens read-only), Telegram linking shows the deep link and its QR code, a BYOK key is
listed masked and never appears in the page, a spend cap is saved, and the page is screenshotted at
desktop and phone width with axe-core finding no serious or critical violations."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.support.browser import DESKTOP, PHONE, axe_serious, screenshot, sign_in

pytestmark = pytest.mark.timeout(300)


def _token(base: str, email: str) -> str:
    resp = httpx.post(f"{base}/api/dev/sign-in", json={"email": email}, timeout=10)
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def _running_instance(base: str, auth: dict[str, str], agent: str) -> str:
    r = httpx.post(f"{base}/api/instances", json={"agent": agent}, headers=auth, timeout=30)
    assert r.status_code in (200, 202), r.text
    instance_id = str(r.json()["id"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        got = httpx.get(f"{base}/api/instances/{instance_id}", headers=auth, timeout=10).json()
        if got["status"] == "running":
            return instance_id
        assert got["status"] in ("provisioning",), got
        time.sleep(0.3)
    raise AssertionError("the instance did not reach running")


def _chat(base: str, auth: dict[str, str], instance_id: str, message: str) -> None:
    body = {"instance_id": instance_id, "message": message, "client_message_id": uuid.uuid4().hex}
    with httpx.stream("POST", f"{base}/api/chat/stream", json=body, headers=auth, timeout=60) as resp:
        assert resp.status_code == 200
        text = "".join(resp.iter_text())
    assert "event: done" in text, text[-500:]


def _file_url(base: str, instance_id: str, path: str) -> str:
    return f"{base}/api/instances/{instance_id}/files/{path}"


def test_instance_page_files_relays_keys_caps(console_stack: str, browser: Any, axe: str) -> None:
    base = console_stack
    email = f"instance-{uuid.uuid4().hex[:8]}@example.org"
    auth = {"Authorization": f"Bearer {_token(base, email)}"}
    instance_id = _running_instance(base, auth, "inbox-zero")
    listed = httpx.get(f"{base}/api/instances/{instance_id}/files", headers=auth, timeout=30).json()["items"]
    editable = next(f["path"] for f in listed if f["editable"] and f["path"].endswith(".md"))
    skill = next(f["path"] for f in listed if not f["editable"])
    _chat(base, auth, instance_id, "TOKENS=20 hello from the instance page test")

    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, base, email, f"/console/instances/{instance_id}")
    page.wait_for_selector(f"#files button[data-path='{editable}']")

    # The answer's usage is in the agent's day-by-day table.
    page.wait_for_selector("#usage tr td:nth-child(4)")
    assert int(page.locator("#usage tr").first.locator("td").nth(3).inner_text()) > 0
    assert re.match(r"\d+ credits? from \d{4}-\d\d-\d\d to ", page.locator("#usage-total").inner_text())

    # The chat session is listed; its messages open under it, as text.
    session = page.locator("#sessions button[aria-expanded]").first
    session.wait_for()
    session.click()
    assert session.get_attribute("aria-expanded") == "true"
    page.wait_for_selector("#sessions .msg.user")
    assert "hello from the instance page test" in page.locator("#sessions .msg.user").first.inner_text()
    assert page.locator("#sessions .msg.assistant").count() == 1

    # An edit is saved, and the API reads it back.
    page.locator(f"#files button[data-path='{editable}']").click()
    editor = page.get_by_label("Contents", exact=True)
    page.wait_for_function("() => document.getElementById('editor-status').textContent.startsWith('Opened')")
    first = editor.input_value() + "\nEdited in the console.\n"
    editor.fill(first)
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_function("() => document.getElementById('editor-status').textContent.startsWith('Saved')")
    assert httpx.get(_file_url(base, instance_id, editable), headers=auth, timeout=30).text == first

    # Someone else changes the file meanwhile: saving shows the conflict; overwriting wins over it.
    r = httpx.put(_file_url(base, instance_id, editable), content=b"changed elsewhere\n", headers=auth, timeout=30)
    assert r.status_code == 200, r.text
    mine = first + "My second edit.\n"
    editor.fill(mine)
    page.get_by_role("button", name="Save", exact=True).click()
    conflict = page.locator("#editor-conflict")
    conflict.wait_for(state="visible")
    assert "changed on the agent" in conflict.inner_text()
    assert httpx.get(_file_url(base, instance_id, editable), headers=auth, timeout=30).text == "changed elsewhere\n"
    page.get_by_role("button", name="Overwrite with my version").click()
    page.wait_for_function("() => document.getElementById('editor-status').textContent.startsWith('Saved')")
    assert conflict.is_hidden()
    assert httpx.get(_file_url(base, instance_id, editable), headers=auth, timeout=30).text == mine

    # Reloading after a conflict shows the other version instead.
    httpx.put(_file_url(base, instance_id, editable), content=b"theirs\n", headers=auth, timeout=30)
    editor.fill("lost edit\n")
    page.get_by_role("button", name="Save", exact=True).click()
    conflict.wait_for(state="visible")
    page.get_by_role("button", name="Reload the file").click()
    page.wait_for_function("() => document.getElementById('editor-text').value === 'theirs\\n'")
    assert conflict.is_hidden()

    # A signed skill opens read-only.
    page.locator(f"#files button[data-path='{skill}']").click()
    page.wait_for_function("() => document.getElementById('editor-status').textContent.includes('read-only')")
    assert editor.get_attribute("readonly") is not None
    assert page.locator("#editor-readonly").is_visible()
    assert page.get_by_role("button", name="Save", exact=True).is_disabled()

    # Telegram: the deep link and a QR code of it, drawn by the console itself.
    page.get_by_label("Chat app", exact=True).select_option("telegram")
    page.get_by_role("button", name="Link an account").click()
    deep = page.locator("#relay-deep-link")
    deep.wait_for(state="visible")
    url = deep.get_attribute("href") or ""
    assert re.fullmatch(r"https://t\.me/\w+\?start=[A-Za-z0-9_-]{16,64}", url), url
    assert deep.inner_text() == url
    page.wait_for_function("() => { const q = document.getElementById('relay-qr');"
                           " return q.complete && q.naturalWidth > 0; }")
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    qr = httpx.get(f"{base}/console/qr", params={"data": url}, cookies=cookies, timeout=10)
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    foreign = httpx.get(f"{base}/console/qr", params={"data": "https://evil.example/?start=" + "a" * 32},
                        cookies=cookies, timeout=10)
    assert foreign.status_code == 400

    # A provider key: listed by its last four characters, never in the page.
    key = f"sk-console-{uuid.uuid4().hex}"
    page.get_by_label("Provider", exact=True).select_option("openai")
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Save key").click()
    page.wait_for_selector("#key-list li[data-provider='openai']")
    assert page.locator("#key-list li[data-provider='openai'] code").inner_text() == f"••••••••{key[-4:]}"
    assert page.get_by_label("API key", exact=True).input_value() == ""
    assert key not in page.content()
    page.reload()
    page.wait_for_selector("#key-list li[data-provider='openai']")
    assert key not in page.content()
    source = httpx.get(f"{base}/console/instances/{instance_id}", cookies=cookies, timeout=10).text
    assert key not in source and key[-4:] in page.content()

    # A refused SSH setup (an unusable key; a trial plan) says why, and the audit log is there (empty).
    page.get_by_text("Set up or replace SSH access").click()
    page.get_by_label("Host", exact=True).fill("ssh.example.org")
    page.get_by_label("User", exact=True).fill("deploy")
    page.get_by_label("Private key", exact=True).fill("not-a-real-key")
    page.get_by_label("Allowed commands, one pattern a line").fill("uptime")
    page.get_by_role("button", name="Save SSH access").click()
    page.wait_for_function("() => document.getElementById('ssh-status').textContent.startsWith('Not saved')")
    assert page.locator("#ssh-audit").inner_text().strip() == "No commands yet."

    # A spend cap is saved on the instance.
    page.get_by_label("Per hour (credits)").fill("7")
    page.get_by_label("Per day, UTC (credits)").fill("40")
    page.get_by_role("button", name="Save caps").click()
    page.wait_for_function("() => document.getElementById('spend-status').textContent.startsWith('Saved')")
    got = httpx.get(f"{base}/api/instances/{instance_id}", headers=auth, timeout=10).json()
    assert got["spend_cap"] == {"hourly": 7, "daily": 40}
    page.reload()
    assert page.get_by_label("Per hour (credits)").input_value() == "7"
    assert "an hour" in page.locator("#spend-help").inner_text()
    page.get_by_label("Per hour (credits)").fill("")  # back to the plan's default
    page.get_by_role("button", name="Save caps").click()
    page.wait_for_function("() => document.getElementById('spend-status').textContent.includes('plan default')")
    got = httpx.get(f"{base}/api/instances/{instance_id}", headers=auth, timeout=10).json()
    assert got["spend_cap"] == {"hourly": None, "daily": 40}

    # Screenshots at both widths, and axe-core finds nothing serious (the editor and a link open).
    page.get_by_role("button", name="Link an account").click()
    page.wait_for_function("() => { const q = document.getElementById('relay-qr');"
                           " return !q.hidden && q.complete && q.naturalWidth > 0; }")
    page.wait_for_selector(f"#files button[data-path='{editable}']")
    page.locator(f"#files button[data-path='{editable}']").click()
    page.wait_for_function("() => document.getElementById('editor-status').textContent.startsWith('Opened')")
    violations: dict[str, list[Any]] = {}
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        screenshot(page, f"instance-detail-{label}")
        serious = axe_serious(page, axe)
        if serious:
            violations[label] = serious
        # Usable at phone width: nothing wider than the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= size["width"], label
    assert violations == {}, violations
    assert errors == []
    context.close()
