"""The LLM proxy end to end in process: proxy token → credits and caps → the user's or the platform's
key → the (fake) provider over real HTTP → the answer relayed, whole or streamed → usage recorded once."""

from __future__ import annotations

import uuid

from tests.integration.llm.conftest import PLATFORM_KEY
from tests.support.harness import RECORDER, assert_problem
from tests.support.llm_proxy import chat, messages, model_calls, proxied, sse_data, streaming_turn


def test_an_openai_call_goes_out_with_the_platform_key_and_is_recorded_once(client, db, user, provider):
    p = proxied(db, user)
    seen = len(provider.requests)
    resp = chat(client, p.token, model="gpt-4o-mini")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    answer = resp.get_json()
    assert answer["choices"][0]["message"]["content"]
    assert len(provider.requests) == seen + 1
    sent = provider.headers[-1]
    assert sent["authorization"] == f"Bearer {PLATFORM_KEY}"  # never the machine's token
    assert p.token not in str(sent)
    (row,) = model_calls(db, p.instance_id)
    assert row["source_request_id"] == f"llm:openai:{answer['id']}"
    assert (row["input_tokens"], row["output_tokens"]) == (answer["usage"]["prompt_tokens"],
                                                           answer["usage"]["completion_tokens"])
    assert row["model"] == "gpt-4o-mini" and row["user_id"] == p.world.user_id and not row["byok"]
    assert row["turn_id"] is None and row["settles_with"] == "hour"  # no turn: the hourly job's


def test_openai_stream_is_relayed_as_sse_with_its_usage(client, db, user, provider):
    p = proxied(db, user)
    resp = chat(client, p.token, stream=True)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    events = sse_data(resp)
    assert events[-1] == "[DONE]"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in events[:-1] if c.get("choices"))
    assert text.startswith("Hello from the fake model")
    assert provider.requests[-1]["stream_options"] == {"include_usage": True}  # asked for, to meter it
    usage = next(c["usage"] for c in events[:-1] if c.get("usage"))
    (row,) = model_calls(db, p.instance_id)
    assert (row["input_tokens"], row["output_tokens"]) == (usage["prompt_tokens"], usage["completion_tokens"])


def test_anthropic_messages_whole_and_streamed(client, db, user, provider):
    p = proxied(db, user)
    whole = messages(client, p.token)
    assert whole.status_code == 200, whole.get_data(as_text=True)
    assert whole.get_json()["content"][0]["text"].startswith("Hello")
    sent = provider.headers[-1]
    assert sent["x-api-key"] == PLATFORM_KEY and sent["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent

    streamed = messages(client, p.token, stream=True)
    assert streamed.status_code == 200
    events = sse_data(streamed)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop" and "content_block_delta" in kinds
    delta = next(e for e in events if e["type"] == "message_delta")
    start = events[0]["message"]
    rows = model_calls(db, p.instance_id)
    assert len(rows) == 2
    assert rows[0]["input_tokens"] == whole.get_json()["usage"]["input_tokens"]
    assert (rows[1]["source_request_id"], rows[1]["input_tokens"], rows[1]["output_tokens"]) == (
        f"llm:anthropic:{start['id']}", start["usage"]["input_tokens"], delta["usage"]["output_tokens"])


def test_the_users_own_key_is_preferred_and_its_tokens_are_not_charged(client, db, user, provider):
    p = proxied(db, user)
    own = "sk-own-" + uuid.uuid4().hex
    RECORDER.secret(own)
    assert client.put("/api/keys/openai", token=user.token, json_body={"api_key": own}).status_code == 200
    assert chat(client, p.token).status_code == 200
    assert provider.headers[-1]["authorization"] == f"Bearer {own}"
    assert client.delete("/api/keys/openai", token=user.token).status_code == 204
    assert chat(client, p.token).status_code == 200
    assert provider.headers[-1]["authorization"] == f"Bearer {PLATFORM_KEY}"
    assert [r["byok"] for r in model_calls(db, p.instance_id)] == [True, False]
    with db.service() as tx:
        used = tx.sql("select count(*) as n from api_keys where user_id = %(u)s", {"u": user.id}).fetchone()["n"]
    assert used == 0


def test_usage_is_recorded_once_per_call_under_retries(client, db, user, provider):
    p = proxied(db, user)
    provider.fail_next(503)  # the provider fails the first attempt: passed back, costs nothing
    first = chat(client, p.token)
    assert first.status_code == 503 and first.get_json()["error"]["message"] == "injected failure"
    assert model_calls(db, p.instance_id) == []
    retry = chat(client, p.token)  # the client's retry
    assert retry.status_code == 200
    assert len(model_calls(db, p.instance_id)) == 1
    # The same answer seen twice (a provider replaying it to a retried request) is one call.
    provider.response_id = "chatcmpl-replayed-" + uuid.uuid4().hex
    for _ in range(2):
        assert chat(client, p.token, stream=True).status_code == 200
    rows = model_calls(db, p.instance_id)
    assert len(rows) == 2 and rows[1]["source_request_id"] == f"llm:openai:{provider.response_id}"


def test_a_token_acts_for_its_own_instance_only(client, db, user, make_user, provider):
    mine = proxied(db, user)
    other = proxied(db, make_user())
    their_turn = streaming_turn(db, other.world)
    # My token naming their turn: the call is mine, and not theirs to pay with that turn.
    resp = chat(client, mine.token, headers={"x-openagents-turn-id": their_turn})
    assert resp.status_code == 200
    (row,) = model_calls(db, mine.instance_id)
    assert row["user_id"] == user.id and row["turn_id"] is None
    assert model_calls(db, other.instance_id) == []

    for bad in ("", "oa_llm_" + "x" * 43, mine.token + "x"):
        body = assert_problem(chat(client, bad), 401)
        assert body["error"]["code"] == "invalid_proxy_token"
    assert_problem(messages(client, "nope-" + uuid.uuid4().hex), 401)
    # A user's sign-in token is no proxy token.
    assert_problem(chat(client, user.token), 401)

    with db.service() as tx:
        tx.sql("update agent_instances set status = 'destroyed', destroyed_at = now() where id = %(i)s",
               {"i": other.instance_id})
    seen = len(provider.requests)
    assert_problem(chat(client, other.token), 401)
    assert len(provider.requests) == seen


def test_a_call_in_a_turn_settles_with_it_and_the_bridge_adds_only_compute(client, db, user, provider):
    from shared.billing.pricing import price_table
    from shared.billing.settlement import settle_turn

    p = proxied(db, user)
    turn_id = streaming_turn(db, p.world)
    assert chat(client, p.token, model="gpt-4o").status_code == 200  # no header: the turn in progress
    assert chat(client, p.token, model="gpt-4o", stream=True,
                headers={"x-openagents-turn-id": turn_id}).status_code == 200
    calls = model_calls(db, p.instance_id)
    assert [(r["turn_id"], r["settles_with"]) for r in calls] == [
        (turn_id, "turn"), (turn_id, "turn")]
    # The bridge's own record of the turn, as chat writes it at `done` (tokens it heard of + compute).
    with db.service() as tx:
        tx.sql("insert into usage_events (user_id, instance_id, agent_id, turn_id, source_request_id, model,"
               " input_tokens, output_tokens, compute_seconds) values (%(u)s, %(i)s, %(a)s, %(t)s, %(s)s, '',"
               " 5000, 700, 12.5)",
               {"u": user.id, "i": p.instance_id, "a": p.world.agent_id, "t": turn_id, "s": f"bridge:{turn_id}"})
        tx.sql("update turns set status = 'done' where id = %(t)s", {"t": turn_id})
    result = settle_turn(turn_id)
    assert result is not None
    expected = price_table().metered_credits(
        [{"model": "gpt-4o", "input_tokens": sum(r["input_tokens"] for r in calls),
          "output_tokens": sum(r["output_tokens"] for r in calls), "compute_seconds": 0},
         {"model": "", "input_tokens": 0, "output_tokens": 0, "compute_seconds": 12.5}])
    assert result.metered_credits == expected
    with db.service() as tx:
        bridge = tx.sql("select input_tokens, output_tokens, compute_seconds from usage_events"
                        " where source_request_id = %(s)s", {"s": f"bridge:{turn_id}"}).fetchone()
    assert (bridge["input_tokens"], bridge["output_tokens"], float(bridge["compute_seconds"])) == (0, 0, 12.5)

    # A call that arrives after its turn was settled is the hourly job's, never lost.
    assert chat(client, p.token, headers={"x-openagents-turn-id": turn_id}).status_code == 200
    late = model_calls(db, p.instance_id)[-1]
    assert late["turn_id"] == turn_id and late["settles_with"] == "hour"


def test_a_provider_that_cannot_be_reached_is_a_502(client, db, user, provider):
    from shared.config import overridden

    p = proxied(db, user)
    with overridden({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}):
        body = assert_problem(chat(client, p.token), 502)
    assert body["error"]["code"] == "upstream_unreachable"
    assert model_calls(db, p.instance_id) == []


def test_a_provider_without_any_key_is_a_503(client, db, user, provider):
    p = proxied(db, user)
    body = assert_problem(chat(client, p.token, model="openrouter/meta/llama-3"), 503)
    assert "/api/keys/openrouter" in body["error"]["message"]


def test_a_turn_header_that_names_no_turn_of_the_instance_is_not_believed(client, db, user, make_user, provider):
    """The bridge's `x-openagents-turn-id` is taken only for one of the calling instance's turns:
    garbage, an unknown id or another tenant's turn leave the call with the instance's own turn in
    progress (here: none, so the hourly job settles it). None of it is a 5xx."""
    mine, theirs = proxied(db, user), proxied(db, make_user())
    other_turn = streaming_turn(db, theirs.world)
    for named in ("not-a-uuid", "x" * 5000, str(uuid.uuid4()), other_turn, " " + other_turn, "%00", "🦀"):
        resp = chat(client, mine.token, headers={"x-openagents-turn-id": named})
        assert resp.status_code == 200, (named[:40], resp.get_data(as_text=True)[:300])
    rows = model_calls(db, mine.instance_id)
    assert len(rows) == 7 and {(r["turn_id"], r["settles_with"]) for r in rows} == {(None, "hour")}
    assert model_calls(db, theirs.instance_id) == []
