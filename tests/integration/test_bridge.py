"""The agent machine's bridge (ARCHITECTURE §5a) as a real subprocess, offline runtime, started the way a
machine starts (fly/agent/entrypoint.sh)."""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from typing import Any

import httpx
import pytest

from fly.agent.bridge.runtime.offline import TOOL_NAME, input_tokens, offline_answer
from shared.bridge import protocol
from tests.support.agent_machine import (
    SkillSpec,
    SSEReader,
    make_bundle,
    read_sse,
    real_events,
    skill_files,
    text_of,
)
from tests.support.harness import HttpClient


@pytest.fixture
def bridge(start_bridge: Any) -> Any:
    """A fresh machine: for tests that write files or bundles."""
    return start_bridge()


def client(machine: Any, token: str | None = None) -> HttpClient:
    return HttpClient(machine.url, headers={"Authorization": f"Bearer {token or machine.token}"})


def turn(machine: Any, message: str, *, turn_id: str | None = None, session_key: str = "s-1",
         headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[httpx.Response, list[Any]]:
    body = {"turn_id": turn_id or uuid.uuid4().hex, "session_key": session_key, "message": message, "channel": "web"}
    with httpx.stream("POST", machine.url + "/v1/turns", json=body, timeout=timeout,
                      headers={"Authorization": f"Bearer {machine.token}", **(headers or {})}) as resp:
        if resp.status_code == 200:
            events = read_sse(resp)
        else:
            events = []
            resp.read()
    return resp, events


# ---- auth, health, readiness ------------------------------------------------------------------------------

def test_only_health_is_open_everything_else_needs_the_token(shared_bridge: Any) -> None:
    anon = HttpClient(shared_bridge.url)
    assert anon.get("/health").json() == {"ok": True}
    for method, path in [("GET", "/ready"), ("GET", "/v1/files"), ("GET", "/v1/files/SOUL.md"),
                         ("PUT", "/v1/files/SOUL.md"), ("PUT", "/v1/bundle"), ("GET", "/v1/bundle"),
                         ("POST", "/v1/turns"), ("GET", "/v1/turns/x"), ("GET", "/nope")]:
        for headers in ({}, {"Authorization": "Bearer wrong-token-000000000000"},
                        {"Authorization": f"Basic {shared_bridge.token}"}, {"Authorization": shared_bridge.token},
                        {"Authorization": f"Bearer {shared_bridge.token}x"}):
            resp = anon.request(method, path, headers=headers)
            assert resp.status_code == 401, (method, path, headers.keys(), resp.status_code)
            assert resp.headers["content-type"] == "application/problem+json"
            assert resp.headers["www-authenticate"].startswith("Bearer")
            assert resp.json()["status"] == 401
    assert client(shared_bridge).get("/ready").status_code == 200


def test_a_machine_route_prefix_is_served_as_the_plain_path_and_still_needs_the_token(shared_bridge: Any) -> None:
    # Turns come through the SSE gateway under `/r/<route>` (the path Fly's edge caches the replay
    # for); on a cache hit no gateway looked at the request, so the token check is what guards it.
    route = "/r/AbCdEfGhIjKlMnOpQrStUv"
    anon = HttpClient(shared_bridge.url)
    for method, path in [("POST", route + "/v1/turns"), ("GET", route + "/v1/turns/x/events"), ("GET", route + "/ready")]:
        resp = anon.request(method, path, headers={"Authorization": "Bearer wrong-token-000000000000"})
        assert resp.status_code == 401, (method, path)
    assert client(shared_bridge).get(route + "/ready").json()["ready"] is True
    body = {"turn_id": uuid.uuid4().hex, "session_key": "s-route", "message": "hello", "channel": "web"}
    with httpx.stream("POST", shared_bridge.url + route + "/v1/turns", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {shared_bridge.token}"}) as resp:
        assert resp.status_code == 200
        assert real_events(read_sse(resp))[-1].event == "done"
    assert client(shared_bridge).get("/r/not/a/route/v1/turns").status_code == 404  # only one segment is a route


def test_ready_reports_runtime_bundle_and_skills(shared_bridge: Any) -> None:
    body = client(shared_bridge).get("/ready").json()
    assert body["ready"] is True
    assert body["runtime"] == "offline"
    assert body["bundle"] == {"version": None, "updated_at": None}
    assert body["skills"] == {"installed": [], "refused": []}


def test_unknown_route_is_a_problem(shared_bridge: Any) -> None:
    resp = client(shared_bridge).get("/v2/whatever")
    assert resp.status_code == 404 and resp.headers["content-type"] == "application/problem+json"


# ---- turns ------------------------------------------------------------------------------------------------

def test_turn_streams_status_tokens_and_done(shared_bridge: Any) -> None:
    message = "Tell me about rivers"
    resp, events = turn(shared_bridge, message, turn_id="turn-basic")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers["cache-control"].startswith("no-cache")
    evs = real_events(events)
    assert [e.id for e in evs] == list(range(1, len(evs) + 1))
    assert evs[0].event == "status" and evs[0].data == {"state": "running", "turn_id": "turn-basic", "runtime": "offline"}
    assert evs[-1].event == "done"
    expected = offline_answer(message, 24)
    assert [e.data["text"] for e in evs if e.event == "token"] == expected
    assert {e.event for e in evs[1:-1]} == {"token"}
    assert evs[-1].data == {"usage": {"input_tokens": input_tokens(message), "output_tokens": 24}}
    # Deterministic: the same message gives the same answer in another session.
    _, again = turn(shared_bridge, message, session_key="s-other")
    assert text_of(again) == "".join(expected)


def test_heartbeat_comments_while_nothing_else_is_sent(shared_bridge: Any) -> None:
    _, events = turn(shared_bridge, "slow thinker PAUSE=900 TOKENS=3")
    first_token = next(i for i, e in enumerate(events) if e.event == "token")
    beats = [e for e in events[:first_token] if e.event == "comment"]
    assert len(beats) >= 3 and all(b.comment == "keepalive" for b in beats)  # 0.2 s interval over 0.9 s
    assert real_events(events)[-1].event == "done"


def test_tool_marker_gives_a_start_and_result_pair(shared_bridge: Any) -> None:
    _, events = turn(shared_bridge, "look this up TOOLTEST TOKENS=4")
    evs = real_events(events)
    tools = [e for e in evs if e.event == "tool"]
    assert [t.data["phase"] for t in tools] == ["start", "result"]
    assert tools[0].data["name"] == tools[1].data["name"] == TOOL_NAME
    assert tools[0].data["call_id"] == tools[1].data["call_id"]
    assert "args" in tools[0].data and tools[1].data["is_error"] is False and tools[1].data["result"]
    assert evs.index(tools[1]) < next(i for i, e in enumerate(evs) if e.event == "token")
    assert evs[-1].event == "done" and evs[-1].data["usage"]["output_tokens"] == 4


def test_failure_mid_stream_ends_with_an_error_event(shared_bridge: Any) -> None:
    _, events = turn(shared_bridge, "please FAILTEST TOKENS=10", turn_id="turn-fail")
    evs = real_events(events)
    assert [e.event for e in evs].count("token") == 5
    assert evs[-1].event == "error"
    assert set(evs[-1].data) == {"title", "detail", "usage"}
    assert evs[-1].data["usage"]["output_tokens"] == 5  # what ran before the failure is paid for
    assert "done" not in [e.event for e in evs]
    assert client(shared_bridge).get("/v1/turns/turn-fail").json()["state"] == "error"


def _turn_state(machine: Any, turn_id: str) -> dict[str, Any]:
    return client(machine).get(f"/v1/turns/{turn_id}").json()


def test_client_disconnect_cancels_the_run(start_bridge: Any) -> None:
    machine = start_bridge(env={"OFFLINE_TOKEN_INTERVAL_MS": "10"})
    body = {"turn_id": "turn-long", "session_key": "s-1", "message": "long answer TOKENS=3000"}
    with httpx.stream("POST", machine.url + "/v1/turns", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {machine.token}"}) as resp:
        got = []
        for ev in SSEReader(resp):
            got.append(ev)
            if len([e for e in got if e.event == "token"]) >= 5:
                break
    deadline = time.monotonic() + 5
    while _turn_state(machine, "turn-long")["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    state = _turn_state(machine, "turn-long")
    assert state["state"] == "cancelled" and state["listeners"] == 0
    assert state["usage"]["output_tokens"] >= 5  # what the cancelled run streamed
    time.sleep(0.2)
    assert _turn_state(machine, "turn-long")["events"] == state["events"] < 100  # nothing ran on
    # A later POST with the same turn_id starts a fresh run.
    _, events = turn(machine, "now short TOKENS=3", turn_id="turn-long")
    assert real_events(events)[-1].event == "done"


def test_repeated_turn_id_attaches_and_replays(start_bridge: Any) -> None:
    machine = start_bridge(env={"OFFLINE_TOKEN_INTERVAL_MS": "20"})
    body = {"turn_id": "turn-attach", "session_key": "s-1", "message": "attach me TOKENS=40"}
    auth = {"Authorization": f"Bearer {machine.token}"}
    with httpx.stream("POST", machine.url + "/v1/turns", json=body, timeout=30, headers=auth) as first:
        reader = SSEReader(first)
        it = iter(reader)
        head = [next(it) for _ in range(4)]
        # A second listener joins mid-run: it gets everything from id 1, then the live tail.
        with httpx.stream("POST", machine.url + "/v1/turns", json=body, timeout=30, headers=auth) as second:
            second_events = real_events(read_sse(second))
        rest = list(it)
    first_events = real_events(head + rest)
    assert [(e.id, e.event, e.data) for e in first_events] == [(e.id, e.event, e.data) for e in second_events]
    assert first_events[-1].event == "done"
    assert _turn_state(machine, "turn-attach")["state"] == "done"
    # Finished: a retry replays (after Last-Event-ID) without running the model again.
    resp, replay = turn(machine, "attach me TOKENS=40", turn_id="turn-attach", headers={"Last-Event-ID": "5"})
    assert [e.id for e in real_events(replay)] == list(range(6, len(first_events) + 1))
    # Same turn_id, different message: refused.
    resp, _ = turn(machine, "something else", turn_id="turn-attach")
    assert resp.status_code == 409 and resp.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("body", [
    {},
    {"turn_id": "t", "session_key": "s"},
    {"turn_id": "t", "session_key": "s", "message": ""},
    {"turn_id": "t", "session_key": "s", "message": 5},
    {"turn_id": "t", "session_key": "s", "message": "hi", "extra": 1},
    {"turn_id": "t", "session_key": "cron:s", "message": "hi"},
    {"turn_id": "t", "session_key": "a b", "message": "hi"},
    [1, 2],
])
def test_invalid_turn_requests_are_400(shared_bridge: Any, body: Any) -> None:
    resp = client(shared_bridge).post("/v1/turns", json=body)
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"] == "application/problem+json"


def test_malformed_json_and_unknown_turn(shared_bridge: Any) -> None:
    c = client(shared_bridge)
    assert c.post("/v1/turns", content=b"{nope", headers={"Content-Type": "application/json"}).status_code == 400
    assert c.get("/v1/turns/never-started").status_code == 404


# ---- files ------------------------------------------------------------------------------------------------

def test_files_list_get_put(bridge: Any) -> None:
    c = client(bridge)
    assert c.get("/v1/files").json() == {"items": [], "next_cursor": None}
    resp = c.put("/v1/files/notes/today.md", content=b"# Today\n")
    assert resp.status_code == 200
    written = resp.json()
    digest = hashlib.sha256(b"# Today\n").hexdigest()
    assert {k: written[k] for k in ("path", "size", "sha256")} == {"path": "notes/today.md", "size": 8, "sha256": digest}
    assert resp.headers["etag"] == f'"{digest}"'
    got = c.get("/v1/files/notes/today.md")
    assert got.content == b"# Today\n" and got.headers["content-type"].startswith("text/markdown")
    etag = got.headers["etag"]
    assert etag == resp.headers["etag"]
    items = c.get("/v1/files").json()["items"]
    assert [(i["path"], i["origin"], i["editable"]) for i in items] == [("notes/today.md", "user", True)]
    # The write answers the metadata a read and the listing show.
    assert items == [written] == [protocol.file_meta_from_headers("notes/today.md", got.headers)]
    assert c.put("/v1/files/notes/today.md", content=b"v2", headers={"If-Match": etag}).status_code == 200
    assert c.put("/v1/files/notes/today.md", content=b"v3", headers={"If-Match": etag}).status_code == 412
    assert c.get("/v1/files/notes/today.md").content == b"v2"
    assert c.get("/v1/files/missing.md").status_code == 404
    assert c.put("/v1/files/notes/today.md/child.md", content=b"x").status_code == 409
    assert c.put("/v1/files/notes", content=b"x").status_code == 409
    assert (bridge.data_dir / "workspace" / "notes" / "today.md").read_bytes() == b"v2"


def test_file_size_limit(start_bridge: Any) -> None:
    machine = start_bridge(env={"BRIDGE_MAX_FILE_BYTES": "1000"})
    c = client(machine)
    assert c.put("/v1/files/ok.txt", content=b"x" * 1000).status_code == 200
    resp = c.put("/v1/files/big.txt", content=b"x" * 1001)
    assert resp.status_code == 413 and resp.headers["content-type"] == "application/problem+json"
    assert not (machine.data_dir / "workspace" / "big.txt").exists()


@pytest.mark.parametrize("path", [
    "%2e%2e/outside.txt", "..%2Foutside.txt", "notes/%2e%2e/%2e%2e/outside.txt", "%2Fetc/passwd",
    ".git/config", "notes/.hidden", "a//b.txt", "notes/%2e/x.md", "a%5Cb.txt",
])
def test_paths_escaping_or_hidden_are_400(shared_bridge: Any, path: str) -> None:
    c = client(shared_bridge)
    for resp in (c.get(f"/v1/files/{path}"), c.put(f"/v1/files/{path}", content=b"x")):
        assert resp.status_code == 400, (path, resp.status_code, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
    assert not (shared_bridge.data_dir / "outside.txt").exists()


def test_symlink_out_of_the_workspace_is_400(bridge: Any, tmp_path: Any) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    workspace = bridge.data_dir / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, workspace / "escape")
    c = client(bridge)
    assert c.get("/v1/files/escape/secret.txt").status_code == 400
    assert c.put("/v1/files/escape/new.txt", content=b"x").status_code == 400
    assert not (outside / "new.txt").exists()
    assert "escape" not in str(c.get("/v1/files").json())


# ---- bundle and skills ------------------------------------------------------------------------------------

def _put_bundle(machine: Any, body: dict[str, Any]) -> httpx.Response:
    return client(machine).put("/v1/bundle", json=body)


def test_bundle_update_keeps_user_edits(bridge: Any, signing_keys: Any) -> None:
    c = client(bridge)
    ws = bridge.data_dir / "workspace"
    v1 = make_bundle("v1", signing_keys, workspace={
        "SOUL.md": "soul v1", "AGENTS.md": "agents v1", "notes/old.md": "old v1", "IDENTITY.md": "id v1",
        "TOOLS.md": "tools v1"})
    r1 = _put_bundle(bridge, v1).json()
    assert r1["files"]["written"] == ["AGENTS.md", "IDENTITY.md", "SOUL.md", "TOOLS.md", "notes/old.md"]
    assert (bridge.data_dir / ".openagents" / "bundle" / "agent.yaml").read_text() == "name: test-agent\n"
    assert not (ws / "agent.yaml").exists()
    # The user edits two files and creates one the next version also ships.
    assert c.put("/v1/files/SOUL.md", content=b"my soul").status_code == 200
    assert c.put("/v1/files/IDENTITY.md", content=b"my identity").status_code == 200
    assert c.put("/v1/files/USER.md", content=b"about me").status_code == 200
    origins = {i["path"]: i["origin"] for i in c.get("/v1/files").json()["items"]}
    assert origins == {"AGENTS.md": "bundle", "IDENTITY.md": "edited", "SOUL.md": "edited", "TOOLS.md": "bundle",
                       "USER.md": "user", "notes/old.md": "bundle"}

    v2 = make_bundle("v2", signing_keys, workspace={
        "SOUL.md": "soul v2", "AGENTS.md": "agents v2", "new.md": "new v2", "USER.md": "template user",
        "TOOLS.md": "tools v1"})
    r2 = _put_bundle(bridge, v2).json()
    assert r2["version"] == "v2"
    assert r2["files"] == {"written": ["AGENTS.md", "new.md"], "unchanged": ["TOOLS.md"],
                           "kept": ["IDENTITY.md", "SOUL.md", "USER.md"], "removed": ["notes/old.md"]}
    assert (ws / "SOUL.md").read_text() == "my soul"
    assert (ws / "IDENTITY.md").read_text() == "my identity"  # edited, dropped by v2: kept
    assert (ws / "USER.md").read_text() == "about me"
    assert (ws / "AGENTS.md").read_text() == "agents v2"
    assert not (ws / "notes").exists()
    # The same bundle again changes nothing.
    r3 = _put_bundle(bridge, v2).json()
    assert r3["files"]["written"] == [] and r3["files"]["removed"] == []
    assert c.get("/v1/bundle").json()["version"] == "v2"
    assert c.get("/ready").json()["bundle"]["version"] == "v2"


def test_signed_skills_install_read_only_and_bad_ones_are_refused(bridge: Any, signing_keys: Any) -> None:
    perms = {"network": ["api.example.com"], "tools": ["web_fetch"]}
    good = skill_files("web-search", perms, extra={"scripts/run.sh": b"echo hi\n"})
    old_key = skill_files("old-skill", ["read"])
    tampered = skill_files("tampered", ["read"])
    perms_changed = skill_files("perms-changed", ["read"])
    skills = {
        "web-search": SkillSpec(good, perms),
        "old-skill": SkillSpec(old_key, ["read"], key="retired"),
        "unsigned": SkillSpec(skill_files("unsigned", ["read"]), ["read"], sign=False),
        "unknown-key": SkillSpec(skill_files("unknown-key", ["read"]), ["read"], key="unknown"),
        "tampered": SkillSpec(tampered, ["read"]),
        "tampered-nohash": SkillSpec(skill_files("tampered-nohash", ["read"]), ["read"], include_hashes=False),
        "perms-changed": SkillSpec(perms_changed, ["read"], include_hashes=False),
        "no-manifest": SkillSpec({"README.md": b"no SKILL.md"}, ["read"]),
    }
    body = make_bundle("v1", signing_keys, workspace={"SOUL.md": "soul"}, skills=skills)
    # Tamper after signing: a file's bytes, and (on a skill signed without hashes) the declared permissions.
    body["files"]["skills/tampered/SKILL.md"] = base64.b64encode(tampered["SKILL.md"] + b"\nrm -rf /\n").decode()
    body["files"]["skills/tampered-nohash/SKILL.md"] = base64.b64encode(
        skill_files("tampered-nohash", ["read"], body="Changed.\n")["SKILL.md"]).decode()
    body["files"]["skills/perms-changed/SKILL.md"] = base64.b64encode(
        skill_files("perms-changed", ["read", "write", "exec"])["SKILL.md"]).decode()
    result = _put_bundle(bridge, body).json()
    assert result["skills"]["installed"] == ["old-skill", "web-search"]
    refused = {r["name"]: r["reason"] for r in result["skills"]["refused"]}
    assert refused == {"unsigned": "unsigned", "unknown-key": "unknown_key", "tampered": "content_mismatch",
                       "tampered-nohash": "bad_signature", "perms-changed": "bad_signature",
                       "no-manifest": "invalid_manifest"}
    skills_dir = bridge.data_dir / "workspace" / "skills"
    assert sorted(p.name for p in skills_dir.iterdir()) == ["old-skill", "web-search"]
    assert (skills_dir / "web-search" / "scripts" / "run.sh").read_bytes() == b"echo hi\n"
    ready = client(bridge).get("/ready").json()
    assert ready["skills"]["installed"] == ["old-skill", "web-search"]
    assert {r["name"] for r in ready["skills"]["refused"]} == set(refused)

    c = client(bridge)
    assert c.get("/v1/files/skills/web-search/SKILL.md").content == good["SKILL.md"]
    for path in ("skills/web-search/SKILL.md", "skills/web-search/scripts/run.sh", "skills/evil/SKILL.md"):
        resp = c.put(f"/v1/files/{path}", content=b"---\nname: evil\n---\n")
        assert resp.status_code == 403, path
        assert resp.headers["content-type"] == "application/problem+json"
    listed = {i["path"]: (i["origin"], i["editable"]) for i in c.get("/v1/files").json()["items"]}
    assert listed["skills/web-search/SKILL.md"] == ("skill", False)
    assert listed["SOUL.md"] == ("bundle", True)

    # The next version drops one skill and breaks another: both leave the disk.
    v2 = make_bundle("v2", signing_keys, skills={"web-search": SkillSpec(good, perms, sign=False)})
    result = _put_bundle(bridge, v2).json()
    assert result["skills"] == {"installed": [], "refused": [
        {"name": "web-search", "reason": "unsigned", "detail": "the skill has no signature"}]}
    assert list(skills_dir.iterdir()) == []


@pytest.mark.parametrize("path", [
    "workspace/../escape.md", "/abs.md", "workspace/.env", "skills/x", "workspace/skills/x/SKILL.md",
    "other/file.md", "workspace", "skills/../../x/SKILL.md",
])
def test_bundle_paths_outside_the_layout_are_400(shared_bridge: Any, signing_keys: Any, path: str) -> None:
    body = make_bundle("bad", signing_keys, workspace={"SOUL.md": "soul"})
    body["files"][path] = base64.b64encode(b"x").decode()
    resp = _put_bundle(shared_bridge, body)
    assert resp.status_code == 400, (path, resp.text)
    assert client(shared_bridge).get("/v1/bundle").json()["version"] is None
    assert not (shared_bridge.data_dir / "workspace" / "SOUL.md").exists()


@pytest.mark.parametrize("body", [
    {"version": "v", "files": {"workspace/a.md": "***not base64***"}},
    {"version": "", "files": {}},
    {"files": {}},
    {"version": "v", "files": []},
    {"version": "v", "files": {}, "signatures": []},
    {"version": "v", "files": {}, "extra": True},
])
def test_malformed_bundles_are_400(shared_bridge: Any, body: Any) -> None:
    assert _put_bundle(shared_bridge, body).status_code == 400


def test_bundle_size_limit(start_bridge: Any, signing_keys: Any) -> None:
    machine = start_bridge(env={"BRIDGE_MAX_BUNDLE_BYTES": "4096"})
    body = make_bundle("v1", signing_keys, workspace={"big.md": "x" * 5000})
    assert _put_bundle(machine, body).status_code == 413


def test_boot_reverifies_skills_on_disk(start_bridge: Any, signing_keys: Any, tmp_path: Any) -> None:
    data_dir = tmp_path / "persisted"
    token = "gw-reboot-" + uuid.uuid4().hex
    machine = start_bridge(data_dir=data_dir, token=token)
    good = skill_files("good", ["read"])
    body = make_bundle("v1", signing_keys, skills={"good": SkillSpec(good, ["read"]),
                                                   "other": SkillSpec(skill_files("other", ["read"]), ["read"])})
    assert _put_bundle(machine, body).json()["skills"]["installed"] == ["good", "other"]
    machine.stop()
    skills_dir = data_dir / "workspace" / "skills"
    (skills_dir / "other" / "SKILL.md").write_bytes(b"---\nname: other\ndescription: x\npermissions: [all]\n---\n")
    (skills_dir / "planted").mkdir()
    (skills_dir / "planted" / "SKILL.md").write_text("---\nname: planted\n---\n")
    again = start_bridge(data_dir=data_dir, token=token)
    ready = client(again).get("/ready").json()
    assert ready["skills"]["installed"] == ["good"]
    assert {r["name"]: r["reason"] for r in ready["skills"]["refused"]} == {"other": "content_mismatch",
                                                                           "planted": "unsigned"}
    assert sorted(p.name for p in skills_dir.iterdir()) == ["good"]
    assert len(list((data_dir / ".openagents" / "quarantine").iterdir())) == 2


def test_gateway_token_never_reaches_the_log(start_bridge: Any) -> None:
    machine = start_bridge()
    turn(machine, "hello TOOLTEST TOKENS=3")
    client(machine).put("/v1/files/a.md", content=b"a")
    HttpClient(machine.url, headers={"Authorization": "Bearer wrong-0000000000000000"}).get("/v1/files")
    machine.stop()
    log = machine.log_path.read_text()
    assert "turn finished" in log
    assert machine.token not in log
