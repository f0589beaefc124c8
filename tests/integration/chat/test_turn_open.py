"""Opening a turn (issue 14): the one-statement opening writes what the step-by-step one wrote, and the
cases it leaves to the step-by-step one (a repeated client_message_id) still come out as before."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from shared.auth import User
from shared.chat import stream
from shared.chat.models import ChatRequest
from shared.problems import Problem
from tests.support.billing_helpers import World, balance, world


def _req(w: World, *, session: str | None = None, cmid: str | None = None, message: str = "hello") -> ChatRequest:
    return ChatRequest(instance_id=uuid.UUID(w.instance_id), session_id=uuid.UUID(session) if session else None,
                       message=message, client_message_id=cmid or uuid.uuid4().hex)


def _rows(db: Any, turn_id: str) -> dict[str, Any]:
    with db.service() as tx:
        return tx.sql(
            "select t.session_id, t.status::text as status, t.hold_credits, t.held_at is not null as held,"
            " t.user_message_id, t.assistant_message_id, s.title,"
            " (select array_agg(m.role::text || ':' || m.content order by m.created_at) from messages m"
            "  where m.turn_id = t.id) as messages"
            " from turns t join sessions s on s.id = t.session_id where t.id = %(t)s", {"t": turn_id}).fetchone()


def test_a_new_session_and_turn_in_one_go(db: Any) -> None:
    w = world(db, price=5)
    user = User(w.user_id, None, {})
    turn = stream._open_in_one(user, _req(w, message="plan my day"), "chat")
    rows = _rows(db, turn.turn_id)
    assert not turn.attached and turn.lease is not None
    assert rows["held"] and rows["hold_credits"] >= 5 and rows["status"] == "streaming"
    assert rows["title"] == "plan my day" and str(rows["session_id"]) == turn.session_id
    assert rows["messages"] == ["user:plan my day", "assistant:"]
    assert str(rows["user_message_id"]) == turn.user_message_id
    assert str(rows["assistant_message_id"]) == turn.assistant_message_id
    turn.lease.release()


def test_a_turn_in_an_existing_session(db: Any) -> None:
    w = world(db, pricing_model="per_session", price=7)
    user = User(w.user_id, None, {})
    turn = stream._open_in_one(user, _req(w, session=w.session_id), None)
    assert turn.session_id == w.session_id and turn.lease is None
    assert _rows(db, turn.turn_id)["hold_credits"] >= 7


def test_a_repeated_client_message_id_attaches_through_the_fallback(db: Any) -> None:
    w = world(db)
    user = User(w.user_id, None, {})
    first = stream.open_turn(user, _req(w, cmid="same-id"))
    with pytest.raises((stream._Unusual, psycopg.Error)):  # rolled back either way
        stream._open_in_one(user, _req(w, cmid="same-id"), None)
    again = stream.open_turn(user, _req(w, cmid="same-id"))
    assert again.attached and again.turn_id == first.turn_id
    with db.service() as tx:
        assert tx.sql("select count(*) as n from turns where user_id = %(u)s", {"u": w.user_id}).fetchone()["n"] == 1


def test_no_credits_is_a_402_that_leaves_nothing(db: Any) -> None:
    w = world(db, price=5)
    with db.service() as tx:
        tx.sql("update credit_balances set subscription_credits = 0, topup_credits = 0 where user_id = %(u)s",
               {"u": w.user_id})
    user = User(w.user_id, None, {})
    with pytest.raises(Problem) as err:
        stream.open_turn(user, _req(w), lease="chat")
    assert err.value.status == 402
    with db.service() as tx:
        assert tx.sql("select count(*) as n from turns where user_id = %(u)s", {"u": w.user_id}).fetchone()["n"] == 0
        assert tx.sql("select count(*) as n from sessions where user_id = %(u)s", {"u": w.user_id}).fetchone()["n"] == 1
    assert balance(db, w.user_id)["topup_credits"] == 0


def test_an_instance_of_someone_else_is_not_found(db: Any) -> None:
    w = world(db)
    other = world(db)
    with pytest.raises(Problem) as err:
        stream.open_turn(User(other.user_id, None, {}), _req(w))
    assert err.value.status == 404


def test_at_the_stream_cap_a_429_that_leaves_nothing(db: Any) -> None:
    from shared.config import overridden

    w = world(db, price=5)
    user = User(w.user_id, None, {})
    with overridden({"CHAT_STREAMS_PER_USER": "1"}):
        first = stream.open_turn(user, _req(w), lease="chat")
        with pytest.raises(Problem) as err:
            stream.open_turn(user, _req(w), lease="chat")
    assert err.value.status == 429 and int(err.value.headers["Retry-After"]) >= 1
    with db.service() as tx:
        turns = tx.sql("select count(*) as n, count(*) filter (where held_at is not null) as held from turns"
                       " where user_id = %(u)s", {"u": w.user_id}).fetchone()
        sessions = tx.sql("select count(*) as n from sessions where user_id = %(u)s", {"u": w.user_id}).fetchone()
    assert (turns["n"], turns["held"], sessions["n"]) == (1, 1, 2)  # the first turn's own session and the world's
    assert first.lease is not None
    first.lease.release()


def test_a_session_that_paid_its_per_session_price_holds_only_the_metered_part(db: Any) -> None:
    from shared.billing.ledger import metered_allowance

    w = world(db, pricing_model="per_session", price=7)
    user = User(w.user_id, None, {})
    paid = stream._open_in_one(user, _req(w, session=w.session_id), None)
    with db.service() as tx:  # what settling the first turn leaves: the creator earned the session's price
        tx.sql("insert into creator_earnings (creator_id, turn_id, agent_id, credits)"
               " values (%(c)s, %(t)s, %(a)s, 6)", {"c": w.creator_id, "t": paid.turn_id, "a": w.agent_id})
    again = stream._open_in_one(user, _req(w, session=w.session_id), None)
    assert _rows(db, paid.turn_id)["hold_credits"] == 7 + metered_allowance()
    assert _rows(db, again.turn_id)["hold_credits"] == metered_allowance()


def test_a_session_of_another_instance_goes_to_the_step_by_step_opening(db: Any) -> None:
    w = world(db)
    other = world(db, user_id=w.user_id)
    user = User(w.user_id, None, {})
    with pytest.raises(stream._Unusual):
        stream._open_in_one(user, _req(w, session=other.session_id), None)
    with pytest.raises(Problem) as err:
        stream.open_turn(user, _req(w, session=other.session_id))
    assert err.value.status == 404


def test_a_one_round_trip_transaction_that_fails_leaves_nothing_and_its_connection_usable(db: Any) -> None:
    w = world(db)
    user = User(w.user_id, None, {})
    turn = stream._open_in_one(user, _req(w), "chat")
    assert turn.lease is not None
    for _ in range(db.max_size + 1):  # every pooled connection has met the failure by now
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            db.service_once("stream_lease_release", lease_id="not-a-uuid")
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):  # the same through libpq directly
            db.service_send("stream_lease_release", lease_id="not-a-uuid")
    assert db.service_once("chat_session_paid", session_id=turn.session_id) == {"paid": False}
    for _ in range(db.max_size + 1):  # the role switch was the transaction's own: no connection keeps it
        with db.connection() as conn:
            assert conn.execute("select current_user as u").fetchone()["u"] != "service_role"
    turn.lease.release()
    with db.service() as tx:
        assert tx.sql("select count(*) as n from private.stream_leases where user_id = %(u)s",
                      {"u": w.user_id}).fetchone()["n"] == 0


def test_a_frame_written_through_libpq_directly_all_or_nothing(db: Any) -> None:
    """`service_send` (a turn's frames): what it writes lands in one transaction, and a statement
    that fails leaves none of it, and the connection goes back clean."""
    import json

    w = world(db)
    turn = stream._open_in_one(User(w.user_id, None, {}), _req(w), None)
    frame = {"turn_id": turn.turn_id, "user_id": w.user_id, "session_id": turn.session_id,
             "events": json.dumps([{"id": 1, "event": "token", "data": {"text": "hi"}}]), "last_seq": 1,
             "text": "hi", "topic": f"session:{turn.session_id}"}

    def stored() -> tuple[int, int, str]:
        with db.service() as tx:
            row = tx.sql("select (select count(*) from turn_events e where e.turn_id = t.id) as n, t.last_seq,"
                         " m.content from turns t join messages m on m.id = t.assistant_message_id"
                         " where t.id = %(t)s", {"t": turn.turn_id}).fetchone()
        return int(row["n"]), int(row["last_seq"]), str(row["content"])

    with pytest.raises(psycopg.errors.InvalidTextRepresentation):  # its tools are not JSON: none of it lands
        db.service_send("turn_frame", **frame, tools="{not json")
    assert stored() == (0, 0, "")
    db.service_send("turn_frame", **frame, tools="[]")
    assert stored() == (1, 1, "hi")


def _mark_deleted(db: Any, user_id: str) -> None:
    with db.service() as tx:
        tx.sql("update profiles set deleted_at = now() where id = %(u)s", {"u": user_id})


def _turn_count(db: Any, user_id: str) -> int:
    with db.service() as tx:
        return int(tx.sql("select count(*) as n from turns where user_id = %(u)s", {"u": user_id}).fetchone()["n"])


def test_a_deleted_account_is_refused_by_the_opening_itself_and_nothing_is_written(db: Any) -> None:
    w = world(db)
    _mark_deleted(db, w.user_id)
    user = User(w.user_id, None, {})
    for opening in (lambda: stream.open_turn(user, _req(w), lease="chat"),
                    lambda: stream._open_stepwise(user, _req(w), "chat"),  # the fallback checks too
                    lambda: stream.open_turn(user, _req(w, session=w.session_id))):
        with pytest.raises(Problem) as err:
            opening()
        assert err.value.status == 401 and err.value.detail == "This account has been deleted."
    assert _turn_count(db, w.user_id) == 0
    with db.service() as tx:
        assert tx.sql("select count(*) as n from private.stream_leases where user_id = %(u)s",
                      {"u": w.user_id}).fetchone()["n"] == 0
        assert tx.sql("select count(*) as n from sessions where user_id = %(u)s", {"u": w.user_id}).fetchone()["n"] == 1


def test_the_chat_route_refuses_a_deleted_account_without_a_read_of_its_own(db: Any, client: Any) -> None:
    """The route leaves the deleted-account check to the opening (`gate_in_handler`): still a 401,
    before any credit check, and nothing written; a live account's turn opens as before."""
    from shared.auth import mint_access_token
    from shared.config import get_settings

    w = world(db)
    with db.service() as tx:
        tx.sql("update credit_balances set subscription_credits = 0, topup_credits = 0 where user_id = %(u)s",
               {"u": w.user_id})
    token = mint_access_token(w.user_id, "deleted@test.openagents.dev", get_settings())
    body = {"instance_id": w.instance_id, "message": "hello", "client_message_id": uuid.uuid4().hex}
    live = client.post("/api/chat/stream", token=token, json_body=body)
    assert live.status_code == 402  # no credits: the account itself is fine
    _mark_deleted(db, w.user_id)
    gone = client.post("/api/chat/stream", token=token, json_body={**body, "client_message_id": uuid.uuid4().hex})
    assert gone.status_code == 401 and gone.get_json()["detail"] == "This account has been deleted."
    assert _turn_count(db, w.user_id) == 0
    # Other routes keep the gate in front of everything.
    assert client.get(f"/api/instances/{w.instance_id}/sessions", token=token).status_code == 401


def test_the_routes_rate_limit_is_counted_by_the_opening_and_the_count_stays(db: Any) -> None:
    """`limit=`: the chat route's rate limit is counted in the opening's one round trip. Every outcome
    keeps the count (a 404 here, as the route's own count did), and over the limit it is a 429 with
    the seconds left in the window that writes nothing else."""
    from shared.ratelimit import RateLimit

    w = world(db)
    user = User(w.user_id, None, {})
    rule = RateLimit(f"chat-open-{uuid.uuid4().hex[:8]}", 2, window_s=3600)
    stranger = ChatRequest(instance_id=uuid.uuid4(), message="hi", client_message_id=uuid.uuid4().hex)
    with pytest.raises(Problem) as err:
        stream.open_turn(user, stranger, limit=rule)
    assert err.value.status == 404
    opened = stream.open_turn(user, _req(w), limit=rule)
    assert not opened.attached
    before = _turn_count(db, w.user_id)
    with pytest.raises(Problem) as err:
        stream.open_turn(user, _req(w), limit=rule)
    assert err.value.status == 429 and 1 <= int(err.value.headers["Retry-After"]) <= 3600
    assert _turn_count(db, w.user_id) == before
    with db.service() as tx:
        hits = tx.sql("select count from rate_limits where key = %(k)s", {"k": f"{rule.name}:{w.user_id}"}).fetchone()
    assert hits["count"] == 3


def test_a_second_turn_is_decided_against_the_first_ones_hold(db: Any) -> None:
    """The hold decided inline (migration 20261201230001): enough for exactly one turn's hold opens
    one turn; the next sees that hold and gets the 402 with what is left, and writes nothing."""
    from shared.billing.ledger import hold_size

    w = world(db, price=5)
    one = hold_size(5)
    with db.service() as tx:
        tx.sql("update credit_balances set subscription_credits = 0, topup_credits = %(c)s where user_id = %(u)s",
               {"u": w.user_id, "c": one + 3})
    user = User(w.user_id, None, {})
    first = stream._open_in_one(user, _req(w), None)
    assert _rows(db, first.turn_id)["hold_credits"] == one
    with pytest.raises(Problem) as err:
        stream._open_in_one(user, _req(w), None)
    problem = err.value.to_dict()
    assert err.value.status == 402 and (problem["available"], problem["required"]) == (3, one)
    with db.service() as tx:
        turns = tx.sql("select count(*) as n from turns where user_id = %(u)s", {"u": w.user_id}).fetchone()
    assert turns["n"] == 1
    assert balance(db, w.user_id)["topup_credits"] == one + 3  # a hold moves no money


def test_a_turns_message_keys_are_still_checked_at_commit(db: Any) -> None:
    """The two message keys are deferred to COMMIT so the opening can name its messages first; a turn
    naming a message that never comes is still refused, and nothing of it stays."""
    w = world(db)
    bogus = str(uuid.uuid4())
    with pytest.raises(psycopg.errors.ForeignKeyViolation), db.service() as tx:
        tx.sql("insert into turns (session_id, user_id, instance_id, client_message_id, user_message_id)"
               " values (%(s)s, %(u)s, %(i)s, 'fk-check', %(m)s)",
               {"s": w.session_id, "u": w.user_id, "i": w.instance_id, "m": bogus})
    with db.service() as tx:
        assert tx.sql("select count(*) as n from turns where user_id = %(u)s", {"u": w.user_id}).fetchone()["n"] == 0
