"""The proxy's warm-up answer: a call with an unclaimed warm-pool unit's token is answered by the proxy
itself in the dialect's wire format (whole and streamed), with no provider call, no usage row and no
credit movement; a failed unit's token is refused; once claimed the token is forwarded and metered."""

from __future__ import annotations

import uuid
from typing import Any

from shared.config import overridden
from shared.llm import tokens
from shared.llm.warmup import REPLY
from tests.support.billing_helpers import world
from tests.support.harness import RECORDER, assert_problem
from tests.support.llm_proxy import chat, messages, model_calls, sse_data


def unit_token(db: Any, status: str = "creating") -> tuple[str, str]:
    with db.service() as tx:
        unit = str(tx.sql("insert into warm_pool (fly_app, region, status) values (%(a)s, 'iad', %(s)s) returning id",
                          {"a": f"oa-pool-test-{uuid.uuid4().hex[:8]}", "s": status}).fetchone()["id"])
    token = tokens.ensure_token(f"pool-{unit}")
    RECORDER.secret(token)
    return unit, token


def money_rows(db: Any) -> tuple[int, int]:
    with db.service() as tx:
        usage = tx.sql("select count(*) as n from usage_events").fetchone()["n"]
        ledger = tx.sql("select count(*) as n from credit_transactions").fetchone()["n"]
    return int(usage), int(ledger)


def test_an_unclaimed_units_calls_get_the_fixed_answer_free_in_each_wire_format(client, db, provider, caplog):
    caplog.set_level("INFO", logger="openagents.llm")
    unit, token = unit_token(db)
    calls, money = len(provider.requests), money_rows(db)

    whole = chat(client, token, text="warm up")
    assert whole.status_code == 200, whole.get_data(as_text=True)
    body = whole.get_json()
    assert body["object"] == "chat.completion" and body["model"] == "fake-model"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": REPLY}
    assert body["choices"][0]["finish_reason"] == "stop" and body["usage"]["total_tokens"] == 0

    streamed = client.post("/llm/v1/chat/completions", headers={"Authorization": f"Bearer {token}"},
                           json_body={"model": "fake-model", "stream": True, "stream_options": {"include_usage": True},
                                      "messages": [{"role": "user", "content": "warm up"}]})
    assert streamed.status_code == 200 and streamed.headers["Content-Type"].startswith("text/event-stream")
    events = sse_data(streamed)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == REPLY
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 0  # asked for: sent
    assert not any(c.get("usage") for c in sse_data(chat(client, token, stream=True))[:-1])  # not asked: none

    anthropic = messages(client, token)
    assert anthropic.status_code == 200
    msg = anthropic.get_json()
    assert (msg["type"], msg["role"], msg["stop_reason"]) == ("message", "assistant", "end_turn")
    assert msg["content"] == [{"type": "text", "text": REPLY}]

    a_stream = messages(client, token, stream=True)
    assert a_stream.status_code == 200 and a_stream.headers["Content-Type"].startswith("text/event-stream")
    kinds = [e["type"] for e in sse_data(a_stream)]
    assert kinds == ["message_start", "content_block_start", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    assert "event: content_block_delta" in a_stream.get_data(as_text=True)

    assert len(provider.requests) == calls  # the provider never saw any of it
    assert money_rows(db) == money  # nothing metered, nothing charged
    answered = [r for r in caplog.records if r.getMessage() == "warm-up call answered by the proxy"]
    assert len(answered) == 5 and all(getattr(r, "fields", {}).get("unit_id") == unit for r in answered)


def test_a_warm_up_call_makes_the_upstream_client_the_hires_first_call_would_wait_for(client, db, provider):
    from shared.llm import upstream_http

    upstream_http.reset()
    _, token = unit_token(db)
    calls = len(provider.requests)
    assert chat(client, token, stream=True).status_code == 200
    assert upstream_http.made() and len(provider.requests) == calls  # made, yet nothing sent upstream


def test_a_ready_unit_is_answered_too_and_a_failed_one_is_refused(client, db, provider):
    _, ready = unit_token(db, "ready")
    assert chat(client, ready).status_code == 200
    _, failed = unit_token(db, "failed")
    resp = chat(client, failed)
    assert_problem(resp, 401)
    assert resp.get_json()["error"]["code"] == "invalid_proxy_token"
    with db.service() as tx:
        tx.sql("update proxy_tokens set revoked_at = now() where token_hash = %(h)s",
               {"h": tokens.hash_token(ready)})
    assert chat(client, ready).status_code == 401  # a revoked unit token is nobody's


def test_once_claimed_the_units_token_is_forwarded_and_metered_for_the_instance(client, db, user, provider):
    unit, token = unit_token(db, "ready")
    w = world(db, pricing_model="free", user_id=user.id)
    with db.service() as tx:
        tx.sql("update warm_pool set status = 'claimed', instance_id = %(i)s, claimed_at = now() where id = %(u)s",
               {"i": w.instance_id, "u": unit})
    calls = len(provider.requests)
    resp = chat(client, token)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["choices"][0]["message"]["content"] != REPLY  # the provider's answer
    assert len(provider.requests) == calls + 1
    assert len(model_calls(db, w.instance_id)) == 1
    assert tokens.unclaimed_unit(token) is None


def test_an_unclaimed_units_calls_are_rate_limited_per_unit(client, db, provider):
    """The route leaves its limit to the call's opening; a warm-up call has none, so it is counted on
    its own, under the unit's name."""
    _, token = unit_token(db)
    _, other = unit_token(db)
    with overridden({"RATE_LIMITS": '{"llm-proxy": {"limit": 2, "window_s": 3600}}'}):
        assert [chat(client, token).status_code for _ in range(2)] == [200, 200]
        limited = chat(client, token)
        assert assert_problem(limited, 429)["error"]["code"] == "rate_limit_exceeded"
        assert int(limited.headers["Retry-After"]) >= 1
        assert chat(client, other).status_code == 200  # another unit has its own count
