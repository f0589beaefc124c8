"""Billing's side of the audit log and of account deletion, against the local Stripe fake: a plan
change is audited; deleting an account cancels its subscription first, and the events Stripe then
sends for the deleted account are handled without bringing anything back."""

from __future__ import annotations

from typing import Any

from tests.support import billing_stripe
from tests.support.billing_helpers import ledger
from tests.support.billing_stripe import deliver, drain_ok, session_id

stripe_fake = billing_stripe.stripe_fake  # the module-scoped fixture


def _subscribe(client: Any, fake: Any, user: Any, plan: str) -> None:
    fake.new_events()
    resp = client.post("/api/billing/checkout", token=user.token, json_body={"plan": plan})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    fake.complete_checkout(session_id(resp.get_json()["url"]))
    for event in fake.new_events():
        assert deliver(client, event).status_code == 200
    drain_ok()


def _profile(db: Any, user_id: str) -> dict[str, Any]:
    with db.service() as tx:
        return tx.sql("select plan::text, plan_status::text, stripe_subscription_id, deleted_at from profiles"
                      " where id = %(u)s", {"u": user_id}).fetchone()


def test_a_plan_change_is_audited_and_deletion_cancels_the_subscription(client, stripe_fake, make_user, db):
    user = make_user()
    _subscribe(client, stripe_fake, user, "power")
    profile = _profile(db, user.id)
    assert profile["plan"] == "power"
    changes = [e for e in client.get("/api/me/audit", token=user.token).get_json()["items"] if e["action"] == "plan.changed"]
    assert changes and changes[0]["details"]["to"] == "power" and changes[0]["details"]["from"] == "trial"
    money = ledger(db, user.id)

    assert client.delete("/api/me", token=user.token).status_code == 202
    sub = stripe_fake.client().v1.subscriptions.retrieve(profile["stripe_subscription_id"])
    assert sub["status"] == "canceled"
    # Stripe's events about the cancellation reach a deleted account: handled, nothing revived.
    for event in stripe_fake.new_events():
        assert deliver(client, event).status_code == 200
    drain_ok()
    after = _profile(db, user.id)
    assert after["deleted_at"] is not None and after["plan_status"] == "canceled"
    assert ledger(db, user.id)[: len(money)] == money
