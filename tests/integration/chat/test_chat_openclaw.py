"""End to end with a REAL OpenClaw gateway (the pinned npm package, installed once and cached):
API → SSE gateway (fly-replay) → emulator proxy → bridge → OpenClaw → the platform's LLM proxy → a fake
OpenAI-compatible LLM. Asserts streamed tokens, a tool event, the model calls metered by the proxy and
the turn settled from them (ARCHITECTURE §5a "LLM proxy", §5b)."""

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
from tests.support.harness import RECORDER

pytestmark = pytest.mark.openclaw

PLATFORM_KEY = "sk-openclaw-platform-canary-2d4f6a8c0e"
RECORDER.secret(PLATFORM_KEY)


@pytest.fixture(scope="module")
def openclaw_stack(database: Any, openclaw_install: Any, fake_llm: Any,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatStack]:
    from devstack.fake_llm import upstream_env

    # The machines' own direct provider settings lose to the proxy the platform provisions.
    stack, stop = start_chat_stack(
        tmp_path_factory.mktemp("chat-openclaw"), runtime="openclaw", openclaw=openclaw_install,
        machine_env={"AGENT_LLM_BASE_URL": fake_llm.base_url, "AGENT_LLM_API_KEY": "fake-key",
                     "AGENT_LLM_MODEL": "fake-model"})
    try:
        with overridden({**stack.env, **upstream_env(fake_llm, key=PLATFORM_KEY)}):
            yield stack
    finally:
        stop()


def test_chat_through_a_real_openclaw_gateway(openclaw_stack, db, seeded, user, fake_llm):
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
        recorded = tx.sql("select source_request_id, model, input_tokens, output_tokens, compute_seconds, settles_with"
                          " from usage_events where turn_id = %(t)s order by id", {"t": turn_id}).fetchall()
        turn = tx.sql("select status::text, settled_at from turns where id = %(t)s", {"t": turn_id}).fetchone()
        debit = tx.sql("select subscription_delta + topup_delta as delta, reference from credit_transactions"
                       " where idempotency_key = %(k)s", {"k": f"turn:{turn_id}"}).fetchone()
    calls = [r for r in recorded if r["source_request_id"].startswith("llm:openai:")]
    (bridge,) = [r for r in recorded if r["source_request_id"] == f"bridge:{turn_id}"]
    # The tool call and the answer after it: each model call once, through the proxy, in this turn.
    assert len(calls) >= 2 and len(recorded) == len(calls) + 1, recorded
    assert all(c["input_tokens"] > 0 and c["settles_with"] == "turn" and c["model"] == "fake-model" for c in calls)
    # The bridge's record adds the compute; its token figures are not counted a second time.
    assert (bridge["input_tokens"], bridge["output_tokens"]) == (0, 0) and bridge["compute_seconds"] > 0
    assert turn["status"] == "done" and turn["settled_at"] is not None
    from shared.billing.pricing import price_table

    expected = price_table().metered_credits([{**c, "compute_seconds": 0} for c in calls]
                                             + [{**bridge, "model": bridge["model"]}])
    assert debit is not None and debit["reference"]["metered"] == expected  # + the agent's price
    assert -debit["delta"] == expected + debit["reference"]["agent_credits"]
    # The provider saw the platform's key, never the machine's proxy token.
    marked = [h for r, h in zip(fake_llm.requests, fake_llm.headers, strict=True) if "TOOLTEST" in str(r)]
    assert marked and all(h["authorization"] == f"Bearer {PLATFORM_KEY}" for h in marked)
