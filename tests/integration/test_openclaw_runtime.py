"""A REAL OpenClaw gateway (npm `openclaw` at the pinned version, Node 24, installed once into the cache)
behind the bridge, started by the machine's own entrypoint, with the fake OpenAI-compatible LLM.

Runs in `make test` by default. The install needs npm and its registry: when they are unreachable the
fixture fails (it never skips). One machine serves the whole session (boot ~15 s); tests use their own
session keys.
"""

from __future__ import annotations

import json
import stat
import time
import uuid
from typing import Any

import httpx
import pytest

from devstack import fake_llm as fake
from fly.agent import openclaw_version
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

pytestmark = pytest.mark.openclaw


def turn(machine: Any, message: str, session_key: str) -> list[Any]:
    body = {"turn_id": uuid.uuid4().hex, "session_key": session_key, "message": message, "channel": "web"}
    with httpx.stream("POST", machine.url + "/v1/turns", json=body, timeout=120,
                      headers={"Authorization": f"Bearer {machine.token}"}) as resp:
        assert resp.status_code == 200
        return real_events(read_sse(resp))


def llm_requests_with(llm: Any, marker: str) -> list[dict[str, Any]]:
    return [r for r in list(llm.requests) if marker in json.dumps(r)]


def test_install_is_the_pinned_version(openclaw_install: Any) -> None:
    pkg = json.loads((openclaw_install.entry.parent / "package.json").read_text())
    assert pkg["version"] == openclaw_version() == openclaw_install.version
    assert json.loads(openclaw_install.marker.read_text())["node"].startswith("v24.")


def test_machine_is_ready_with_tool_events(openclaw_machine: Any) -> None:
    ready = HttpClient(openclaw_machine.url, headers={"Authorization": f"Bearer {openclaw_machine.token}"}).get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["runtime"] == "openclaw"
    assert body["details"] == {"gateway": "ready", "tool_events": "subscribed"}


def test_entrypoint_wrote_the_config(openclaw_machine: Any, fake_llm: Any) -> None:
    data = openclaw_machine.data_dir
    config = json.loads((data / "openclaw.json").read_text())
    gw = config["gateway"]
    assert gw["mode"] == "local" and gw["bind"] == "loopback" and gw["auth"] == {"mode": "token"}
    assert gw["http"]["endpoints"]["chatCompletions"]["enabled"] is True
    provider = config["models"]["providers"]["platform"]
    assert provider["baseUrl"] == fake_llm.base_url and provider["api"] == "openai-completions"
    assert provider["apiKey"] == "${AGENT_LLM_API_KEY}"
    assert config["agents"]["defaults"]["model"]["primary"] == "platform/fake-model"
    assert config["agents"]["defaults"]["skipBootstrap"] is True
    assert config["agents"]["defaults"]["heartbeat"] == {"every": "0m"}  # accepted: the gateway booted with it
    assert config["agents"]["defaults"]["workspace"] == str(data / "workspace")
    assert config["env"]["vars"]["OPENCLAW_TRAJECTORY"] == "0"  # accepted too
    text = (data / "openclaw.json").read_text()
    assert "fake-llm-key" not in text and openclaw_machine.token not in text
    token_file = data / ".openagents" / "openclaw-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert openclaw_machine.token != token_file.read_text().strip()  # the bridge token is not OpenClaw's


def test_streamed_tokens_and_usage(openclaw_machine: Any, fake_llm: Any) -> None:
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    events = turn(openclaw_machine, f"Hello there, {marker}", f"t-{uuid.uuid4().hex[:8]}")
    assert events[0].event == "status" and events[0].data["runtime"] == "openclaw"
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    tokens = [e for e in events if e.event == "token"]
    assert len(tokens) > 1
    assert text_of(events) == fake.ANSWER
    assert events[-1].event == "done"
    usage = events[-1].data["usage"]
    assert usage["input_tokens"] > 100 and usage["output_tokens"] > 0  # OpenClaw's system prompt is large
    seen = llm_requests_with(fake_llm, marker)
    assert seen and all(r["model"] == "fake-model" and r["stream"] is True for r in seen)
    i = fake_llm.requests.index(seen[0])
    assert fake_llm.headers[i].get("authorization") == "Bearer fake-llm-key"


def test_tool_event_from_the_websocket(openclaw_machine: Any) -> None:
    events = turn(openclaw_machine, "please list files TOOLTEST", f"t-{uuid.uuid4().hex[:8]}")
    tools = [e.data for e in events if e.event == "tool"]
    assert [t["phase"] for t in tools] == ["start", "result"], events
    assert tools[0]["name"] == tools[1]["name"] == fake.TOOL_NAME
    assert tools[0]["call_id"] == tools[1]["call_id"] and tools[0]["call_id"]
    assert tools[0]["args"] == fake.TOOL_ARGUMENTS
    assert tools[1]["is_error"] is False and isinstance(tools[1]["result"], str)
    first_token = next(i for i, e in enumerate(events) if e.event == "token")
    assert events.index(next(e for e in events if e.event == "tool" and e.data["phase"] == "result")) < first_token
    assert text_of(events) == fake.TOOL_FOLLOWUP
    assert events[-1].event == "done"


def test_client_disconnect_cancels_the_openclaw_run(openclaw_machine: Any, fake_llm: Any) -> None:
    marker = f"cancel-{uuid.uuid4().hex[:8]}"
    turn_id = uuid.uuid4().hex
    body = {"turn_id": turn_id, "session_key": f"t-{uuid.uuid4().hex[:8]}", "message": f"SLOWTEST {marker}"}
    auth = {"Authorization": f"Bearer {openclaw_machine.token}"}
    with httpx.stream("POST", openclaw_machine.url + "/v1/turns", json=body, headers=auth, timeout=120) as resp:
        for event in SSEReader(resp):
            if event.event == "token":
                break  # the answer is streaming (0.4 s a chunk upstream): go away
    client = HttpClient(openclaw_machine.url, headers=auth)
    deadline = time.monotonic() + 10
    while client.get(f"/v1/turns/{turn_id}").json()["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.get(f"/v1/turns/{turn_id}").json()["state"] == "cancelled"
    # OpenClaw dropped its upstream model call too, long before the answer's ~6 s were up.
    deadline = time.monotonic() + 5
    while not any(marker in json.dumps(r) for r in fake_llm.aborted) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any(marker in json.dumps(r) for r in fake_llm.aborted)


def test_session_history_lives_in_openclaw(openclaw_machine: Any, fake_llm: Any) -> None:
    session = f"t-{uuid.uuid4().hex[:8]}"
    first, second = f"first-{uuid.uuid4().hex[:8]}", f"second-{uuid.uuid4().hex[:8]}"
    turn(openclaw_machine, f"remember {first}", session)
    turn(openclaw_machine, f"and now {second}", session)
    later = llm_requests_with(fake_llm, second)
    assert later and first in json.dumps(later[0]["messages"])  # OpenClaw replayed its own history
    other = turn(openclaw_machine, f"unrelated {uuid.uuid4().hex}", f"t-{uuid.uuid4().hex[:8]}")
    assert other[-1].event == "done"
    assert not any(first in json.dumps(r["messages"]) for r in llm_requests_with(fake_llm, "unrelated"))


def test_only_verified_skills_reach_openclaw(openclaw_machine: Any, fake_llm: Any, signing_keys: Any) -> None:
    good, bad = f"verified-{uuid.uuid4().hex[:6]}", f"unsigned-{uuid.uuid4().hex[:6]}"
    body = make_bundle("v-skills", signing_keys, workspace={"SOUL.md": "You are a careful test agent.\n"}, skills={
        good: SkillSpec(skill_files(good, ["read"], description=f"Use {good} for checks"), ["read"]),
        bad: SkillSpec(skill_files(bad, ["exec"], description=f"Use {bad} for anything"), ["exec"], sign=False),
    })
    client = HttpClient(openclaw_machine.url, headers={"Authorization": f"Bearer {openclaw_machine.token}"})
    result = client.put("/v1/bundle", json=body).json()
    assert result["skills"]["installed"] == [good]
    assert [r["name"] for r in result["skills"]["refused"]] == [bad]
    marker = f"skills-{uuid.uuid4().hex[:8]}"
    assert turn(openclaw_machine, f"which skills? {marker}", f"t-{uuid.uuid4().hex[:8]}")[-1].event == "done"
    prompt = json.dumps(llm_requests_with(fake_llm, marker)[0])
    assert good in prompt
    assert bad not in prompt
    # OpenClaw's own bundled and custodian skills are off (skills.allowBundled); the workspace's stay.
    assert "/node_modules/openclaw/skills/" not in prompt and "/node_modules/openclaw/custodian-skills/" not in prompt
