"""The whole billing story with real webhook deliveries: the fake POSTs signed events over HTTP to the
platform served on a real socket (as in `make dev`); a user buys a plan and a top-up, credits appear,
usage settles into debits and creator earnings, all visible through the API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from shared.billing.settlement import settle_turn
from tests.support import billing_stripe
from tests.support.billing_helpers import assert_ledger_matches_balance, turn, world
from tests.support.billing_stripe import drain_ok, session_id
from tests.support.harness import CANARIES

stripe_fake = billing_stripe.stripe_fake  # the module-scoped fixture, shared


@pytest.fixture
def served(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def delivering(stripe_fake, served) -> Iterator[Any]:
    endpoint = stripe_fake.add_webhook_endpoint(f"{served}/api/stripe/webhook",
                                                secret=CANARIES["STRIPE_WEBHOOK_SECRET"])
    stripe_fake.set_deliver_webhooks(True)
    try:
        yield stripe_fake
    finally:
        stripe_fake.set_deliver_webhooks(False)
        stripe_fake.control("DELETE", f"/_fake/webhook_endpoints/{endpoint['id']}")
        stripe_fake.new_events()  # what was delivered here is not for the other tests


def test_buy_a_plan_and_a_topup_then_use_an_agent(client, delivering, make_user, db):
    fake = delivering
    buyer = make_user()
    creator = make_user(role="creator")
    for body in ({"plan": "pro"}, {"topup": 600}):
        url = client.post("/api/billing/checkout", token=buyer.token, json_body=body).get_json()["url"]
        done = fake.complete_checkout(session_id(url))
        assert all(d["ok"] for ds in done["deliveries"].values() for d in ds), done["deliveries"]
    drain_ok()
    credits = client.get("/api/credits", token=buyer.token).get_json()
    assert credits["balance"]["plan"] == "pro" and credits["balance"]["plan_status"] == "active"
    assert (credits["balance"]["subscription_credits"], credits["balance"]["topup_credits"]) == (4050, 600)

    w = world(db, price=10, user_id=buyer.id, creator_id=creator.id)
    for _ in range(3):
        settle_turn(turn(db, w))
    after = client.get("/api/credits", token=buyer.token).get_json()
    assert after["balance"]["available"] == 4050 + 600 - 3 * 11
    assert [i["kind"] for i in after["ledger"]["items"][:3]] == ["debit"] * 3
    usage = client.get("/api/usage", token=buyer.token).get_json()["items"]
    assert [(i["agent_id"], i["turns"], i["credits"]) for i in usage] == [(w.agent_id, 3, 33)]
    earned = client.get("/api/credits", token=creator.token).get_json()["earnings"]
    assert earned == {"unpaid_credits": 3 * 8, "paid_credits": 0, "turns": 3}
    assert_ledger_matches_balance(db, buyer.id)
