"""GET /api/credits and GET /api/usage: what a user (and a creator) sees of the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.billing.settlement import settle_turn
from tests.support.billing_helpers import set_credits, turn, world
from tests.support.harness import assert_problem


def test_new_users_have_the_trial(client, make_user):
    user = make_user()
    body = client.get("/api/credits", token=user.token).get_json()
    b = body["balance"]
    assert (b["available"], b["subscription_credits"], b["topup_credits"], b["plan"], b["plan_status"]) == \
        (50, 50, 0, "trial", "active")
    expires = datetime.fromisoformat(b["subscription_expires_at"])
    assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)
    assert body["earnings"] is None
    [trial] = body["ledger"]["items"]
    assert (trial["kind"], trial["subscription_delta"], trial["subscription_after"]) == ("trial", 50, 50)
    assert body["ledger"]["next_cursor"] is None


def test_credits_page_through_the_ledger_newest_first(client, make_user, db):
    user = make_user()
    w = world(db, price=1, user_id=user.id)
    set_credits(db, user.id, subscription=100)
    for _ in range(5):
        settle_turn(turn(db, w))
    seen, cursor = [], None
    while True:
        page = client.get("/api/credits", token=user.token, query={"limit": 3, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200
        body = page.get_json()
        seen += [i["id"] for i in body["ledger"]["items"]]
        cursor = body["ledger"]["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 1 + 2 + 5
    assert body["balance"]["available"] == 100 - 5 * 2
    assert_problem(client.get("/api/credits", token=user.token, query={"cursor": "eyJpZCI6ICJ4In0"}), 400)
    assert_problem(client.get("/api/credits"), 401)


def test_another_user_sees_none_of_it(client, make_user, db):
    owner = make_user()
    w = world(db, user_id=owner.id)
    settle_turn(turn(db, w))
    other = make_user()
    body = client.get("/api/credits", token=other.token).get_json()
    assert [i["kind"] for i in body["ledger"]["items"]] == ["trial"]
    assert client.get("/api/usage", token=other.token).get_json()["items"] == []


def test_usage_by_agent_and_day(client, make_user, db):
    user = make_user()
    a = world(db, price=5, user_id=user.id)
    b = world(db, pricing_model="free", user_id=user.id)
    set_credits(db, user.id, subscription=1000)
    for _ in range(2):
        settle_turn(turn(db, a))
    settle_turn(turn(db, b, usage=(("gpt-4o", 2000, 1000, 1.5), ("gpt-4o-mini", 10, 10, 0))))
    body = client.get("/api/usage", token=user.token).get_json()
    today = datetime.now(UTC).date().isoformat()
    assert body["to"] == today and body["next_cursor"] is None
    by_agent = {i["agent_id"]: i for i in body["items"]}
    assert set(by_agent) == {a.agent_id, b.agent_id} and all(i["day"] == today for i in body["items"])
    ia, ib = by_agent[a.agent_id], by_agent[b.agent_id]
    assert (ia["turns"], ia["model_calls"], ia["input_tokens"], ia["output_tokens"], ia["credits"]) == (2, 2, 2000, 1000, 12)
    assert (ib["turns"], ib["model_calls"], ib["input_tokens"], ib["credits"]) == (1, 2, 2010, 2)
    assert ia["agent_slug"].startswith("priced-")
    past = client.get("/api/usage", token=user.token, query={"from": "2020-01-01", "to": "2020-01-31"}).get_json()
    assert past["items"] == []
    assert_problem(client.get("/api/usage", token=user.token, query={"from": "2026-02-01", "to": "2026-01-01"}), 400)
    assert_problem(client.get("/api/usage", token=user.token, query={"from": "2020-01-01", "to": "2026-01-01"}), 400)
    assert_problem(client.get("/api/usage", token=user.token, query={"to": "9999-12-31"}), 422)


def test_creators_see_their_earnings(client, make_user, db):
    creator = make_user(role="creator")
    w = world(db, price=20, creator_id=creator.id)
    settle_turn(turn(db, w))
    settle_turn(turn(db, w))
    body = client.get("/api/credits", token=creator.token).get_json()
    assert body["earnings"] == {"unpaid_credits": 34, "paid_credits": 0, "turns": 2}
