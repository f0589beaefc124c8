"""End to end with a REAL OpenClaw gateway (the pinned npm package, installed once and cached):
API → SSE gateway (fly-replay) → emulator proxy → bridge → OpenClaw → a fake OpenAI-compatible LLM.
Asserts streamed tokens, a tool event, usage recorded and the turn settled."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from shared.config import overridden
from shared.streaming import sse
from tests.integration.chat.conftest import (
    ChatStack,
    drain_lifecycle,
    start_chat_stack,
)

pytestmark = pytest.mark.openclaw


@pytest.fixture(scope="module")
def openclaw_stack(database: Any, openclaw_install: Any, fake_llm: Any,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatStack]:
    stack, stop = start_chat_stack(
        tmp_path_factory.mktemp("chat-openclaw"), runtime="openclaw", openclaw=openclaw_install,
        machine_env={"AGENT_LLM_BASE_URL": fake_llm.base_url, "AGENT_LLM_API_KEY": "fake-key",
                     "AGENT_LLM_MODEL": "fake-model"})
    try:
        with overridden(stack.env):
            yield stack
    finally:
        stop()


def test_chat_through_a_real_openclaw_gateway(openclaw_stack, db, seeded, user):
    with openclaw_stack.http() as http:
        resp = http.post("/api/instances", json={"agent": "code-reviewer"}, headers=user.headers)
        assert resp.status_code == 202, resp.text
        instance = resp.json()["id"]
        drain_lifecycle(db, timeout=180)
        assert http.get(f"/api/instances/{instance}", headers=user.headers).json()["status"] == "running"
        body = {"instance_id": instance, "message": "please list the files TOOLTEST", "client_message_id": uuid.uuid4().hex}
        with http.stream("POST", "/api/chat/stream", json=body, headers=user.headers, timeout=180) as resp:
            assert resp.status_code == 200
            events = [e for e in sse.parse(resp.iter_lines()) if isinstance(e, sse.Event)]
    kinds = [e.event for e in events]
    assert kinds[0] == "session" and kinds[-1] == "done", kinds
    assert "".join(e.data["text"] for e in events if e.event == "token").strip()
    tools = [e.data for e in events if e.event == "tool"]
    assert {t["phase"] for t in tools} >= {"start", "result"}, tools
    usage = events[-1].data["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    turn_id = events[0].data["turn_id"]
    with db.service() as tx:
        recorded = tx.sql("select input_tokens, output_tokens from usage_events where turn_id = %(t)s",
                          {"t": turn_id}).fetchall()
        turn = tx.sql("select status::text, settled_at from turns where id = %(t)s", {"t": turn_id}).fetchone()
    assert recorded == [{"input_tokens": usage["input_tokens"], "output_tokens": usage["output_tokens"]}]
    assert turn["status"] == "done" and turn["settled_at"] is not None
