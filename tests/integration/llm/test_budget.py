"""Before every model call: credits, then spend caps — refused calls never reach the provider; calls
outside turns settle hourly; the proxy is rate-limited per instance."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.config import overridden
from tests.support.billing_helpers import assert_ledger_matches_balance, balance, ledger, set_credits
from tests.support.harness import assert_problem
from tests.support.llm_proxy import chat, messages, model_calls, proxied


def _notices(db, user_id):
    with db.service() as tx:
        return tx.sql("select kind, data from notifications where user_id = %(u)s and kind = 'spend_cap'",
                      {"u": user_id}).fetchall()


def test_a_spend_cap_is_enforced_before_the_call_and_raising_it_resumes(client, db, user, provider):
    p = proxied(db, user)
    url = f"/api/instances/{p.instance_id}"
    resp = client.patch(url, token=user.token, json_body={"spend_cap": {"hourly": 0, "daily": 500}})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["spend_cap"] == {"hourly": 0, "daily": 500}
    seen = len(provider.requests)
    for call in (chat, messages, chat):
        refused = call(client, p.token)
        body = assert_problem(refused, 429)
        assert body["error"]["code"] == "spend_cap_exceeded" and "hourly spend cap of 0" in body["error"]["message"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert len(provider.requests) == seen  # the provider never heard of them
    notices = _notices(db, user.id)
    assert len(notices) == 1 and notices[0]["data"]["window"] == "hourly"  # once per cap and window

    assert client.patch(url, token=user.token, json_body={"spend_cap": {"hourly": 1000}}).status_code == 200
    assert chat(client, p.token).status_code == 200
    assert len(model_calls(db, p.instance_id)) == 1
    # Back to the plan's defaults.
    assert client.patch(url, token=user.token, json_body={"spend_cap": None}).get_json()["spend_cap"] == {
        "hourly": None, "daily": None}


def test_a_cap_counts_what_was_spent_in_its_window(client, db, user, provider):
    p = proxied(db, user)
    set_credits(db, user.id, subscription=1000)
    assert chat(client, p.token, model="claude-opus-4-1").status_code == 200  # ~0.2 credits of list price
    client.patch(f"/api/instances/{p.instance_id}", token=user.token, json_body={"spend_cap": {"hourly": 100000, "daily": 1}})
    with db.service() as tx:  # pretend the first call was a big one (~195 credits)
        tx.sql("update usage_events set input_tokens = 100000 where instance_id = %(i)s", {"i": p.instance_id})
    body = assert_problem(chat(client, p.token), 429)
    assert "daily spend cap of 1" in body["error"]["message"]
    # Unpaid, it also counts against the credits: 1000 cover it, 100 do not.
    client.patch(f"/api/instances/{p.instance_id}", token=user.token, json_body={"spend_cap": {"daily": 100000}})
    set_credits(db, user.id, subscription=100)
    assert_problem(chat(client, p.token), 402)


def test_out_of_credits_is_the_same_refusal_and_no_provider_call(client, db, user, provider):
    p = proxied(db, user)
    set_credits(db, user.id, subscription=0)
    seen = len(provider.requests)
    body = assert_problem(chat(client, p.token), 402)
    assert body["error"]["code"] == "insufficient_credits"
    assert_problem(messages(client, p.token, stream=True), 402)
    assert len(provider.requests) == seen and model_calls(db, p.instance_id) == []
    set_credits(db, user.id, subscription=10)
    assert chat(client, p.token).status_code == 200


def test_a_heartbeat_outside_any_turn_is_metered_and_settled_hourly(client, db, user, provider):
    from shared.billing.pricing import price_table
    from shared.llm.hourly import settle_model_calls

    p = proxied(db, user)
    set_credits(db, user.id, subscription=100)
    for _ in range(2):
        assert chat(client, p.token, model="claude-opus-4-1", text="HEARTBEAT" * 200).status_code == 200
    calls = model_calls(db, p.instance_id)
    assert [(c["turn_id"], c["settles_with"], c["hour_settled_at"]) for c in calls] == [(None, "hour", None)] * 2
    expected = price_table().metered_credits([{"model": "claude-opus-4-1",
                                               "input_tokens": sum(c["input_tokens"] for c in calls),
                                               "output_tokens": sum(c["output_tokens"] for c in calls),
                                               "compute_seconds": 0}])
    assert expected >= 1

    # Before the hour is over nothing is due; after it, one debit for the user's calls.
    settle_model_calls()
    assert all(c["hour_settled_at"] is None for c in model_calls(db, p.instance_id))
    later = datetime.now(UTC) + timedelta(hours=1)
    settle_model_calls(now=later)
    debits = [e for e in ledger(db, user.id) if e["idempotency_key"].startswith(f"llm-hour:{user.id}:")]
    assert len(debits) == 1
    assert -(debits[0]["subscription_delta"] + debits[0]["topup_delta"]) == expected
    assert debits[0]["reference"]["calls"] == 2
    assert all(c["hour_settled_at"] is not None for c in model_calls(db, p.instance_id))
    assert balance(db, user.id)["subscription_credits"] == 100 - expected
    # A rerun finds nothing left.
    settle_model_calls(now=later)
    assert len([e for e in ledger(db, user.id) if e["idempotency_key"].startswith("llm-hour:")]) == 1
    assert_ledger_matches_balance(db, user.id)


def test_the_proxy_is_rate_limited_per_instance_with_retry_after(client, db, user, make_user, provider):
    mine, other = proxied(db, user), proxied(db, make_user())
    with overridden({"RATE_LIMITS": '{"llm-proxy": {"limit": 2, "window_s": 3600}}'}):
        assert [chat(client, mine.token).status_code for _ in range(2)] == [200, 200]
        limited = chat(client, mine.token)
        body = assert_problem(limited, 429)
        assert body["error"]["code"] == "rate_limit_exceeded" and int(limited.headers["Retry-After"]) >= 1
        assert chat(client, other.token).status_code == 200  # another instance has its own count


def test_a_refused_call_still_counts_against_the_rate_limit(client, db, user, provider):
    """The call's opening counts the limit in the statement that reads credits and caps: a call it
    refuses for money (402) stays counted, as the route's own count did."""
    p = proxied(db, user)
    with db.service() as tx:
        tx.sql("update credit_balances set subscription_credits = 0, topup_credits = 0 where user_id = %(u)s",
               {"u": user.id})
    calls = len(provider.requests)
    with overridden({"RATE_LIMITS": '{"llm-proxy": {"limit": 2, "window_s": 3600}}'}):
        assert [chat(client, p.token).status_code for _ in range(2)] == [402, 402]
        assert_problem(chat(client, p.token), 429)
    assert len(provider.requests) == calls  # none of them reached the provider
    assert model_calls(db, p.instance_id) == []


def _spend_rollup(db: Any, user_id: str) -> dict[tuple[Any, str], tuple[int, int]]:
    # What a row moved away from stays behind at zero until it is pruned: only non-zero sums compare.
    with db.service() as tx:
        rows = tx.sql("select instance_id, model, sum(input_tokens)::int as i, sum(output_tokens)::int as o"
                      " from private.llm_spend where user_id = %(u)s group by 1, 2"
                      " having sum(input_tokens) + sum(output_tokens) > 0", {"u": user_id}).fetchall()
    return {(str(r["instance_id"]) if r["instance_id"] else None, r["model"]): (r["i"], r["o"]) for r in rows}


def _spend_of_rows(db: Any, user_id: str) -> dict[tuple[Any, str], tuple[int, int]]:
    with db.service() as tx:
        rows = tx.sql("select instance_id, model, sum(input_tokens)::int as i, sum(output_tokens)::int as o"
                      " from usage_events where user_id = %(u)s and source_request_id like 'llm:%%' group by 1, 2"
                      " having sum(input_tokens) + sum(output_tokens) > 0",
                      {"u": user_id}).fetchall()
    return {(str(r["instance_id"]) if r["instance_id"] else None, r["model"]): (r["i"], r["o"]) for r in rows}


def test_the_caps_hourly_rollup_follows_the_usage_rows_however_they_change(client, db, user, provider):
    """The caps read `private.llm_spend`, not the day's usage rows: it must say what they say after
    calls, a changed row, another call's row written directly, a removed row and a removed instance;
    the hourly job prunes hours the caps no longer look at."""
    from shared.llm.hourly import settle_model_calls

    p = proxied(db, user)
    for _ in range(2):
        assert chat(client, p.token).status_code == 200
    assert chat(client, p.token, model="gpt-4o-mini").status_code == 200
    assert _spend_rollup(db, user.id) == _spend_of_rows(db, user.id) and len(_spend_rollup(db, user.id)) == 2
    with db.service() as tx:
        tx.sql("update usage_events set input_tokens = input_tokens + 7, output_tokens = 0"
               " where instance_id = %(i)s and model = 'gpt-4o-mini'", {"i": p.instance_id})
        tx.sql("insert into usage_events (user_id, instance_id, source_request_id, model, input_tokens, output_tokens,"
               " settles_with) values (%(u)s, %(i)s, %(r)s, 'fake-model', 5, 6, 'hour')",
               {"u": user.id, "i": p.instance_id, "r": f"llm:test:{uuid.uuid4()}"})
        tx.sql("delete from usage_events where id = (select min(id) from usage_events where instance_id = %(i)s)",
               {"i": p.instance_id})
    assert _spend_rollup(db, user.id) == _spend_of_rows(db, user.id)
    with db.service() as tx:  # the instance row goes: its calls still count for the user
        tx.sql("delete from proxy_tokens where instance_id = %(i)s", {"i": p.instance_id})
        tx.sql("delete from agent_instances where id = %(i)s", {"i": p.instance_id})
    assert _spend_rollup(db, user.id) == _spend_of_rows(db, user.id)
    assert {instance for instance, _ in _spend_rollup(db, user.id)} == {None}
    with db.service() as tx:
        tx.sql("insert into private.llm_spend (user_id, hour, model, input_tokens) values"
               " (%(u)s, date_trunc('hour', now()) - interval '3 days', 'old-model', 1)", {"u": user.id})
    assert settle_model_calls().spend_rows_pruned >= 1
    assert (None, "old-model") not in _spend_rollup(db, user.id)
