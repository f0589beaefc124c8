"""Plans, top-ups, invoices, refunds and Connect through the real SDK against the local Stripe fake:
events come from the fake (Stripe's fixture shapes), are delivered signed, and handled by the job."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.billing.plans import plan_limits
from tests.support import billing_stripe
from tests.support.billing_helpers import assert_ledger_matches_balance, balance, ledger
from tests.support.billing_stripe import FakeStripe, deliver, drain_ok, session_id
from tests.support.harness import assert_problem

stripe_fake = billing_stripe.stripe_fake  # the module-scoped fixture, shared


def _profile(db, user_id) -> dict[str, Any]:
    with db.service() as tx:
        return tx.sql("select plan::text, plan_status::text, stripe_customer_id, stripe_subscription_id,"
                      " plan_period_end, connect_account_id, connect_payouts_enabled from profiles"
                      " where id = %(u)s", {"u": user_id}).fetchone()


def _deliver_all(client, events, times: int = 1, seed: int | None = None) -> None:
    batch = [e for e in events for _ in range(times)]
    if seed is not None:
        random.Random(seed).shuffle(batch)  # noqa: S311 (a test order, not a secret)
    for e in batch:
        resp = deliver(client, e)
        assert resp.status_code == 200, resp.get_data(as_text=True)


def _checkout(client, fake: FakeStripe, user, **body) -> str:
    resp = client.post("/api/billing/checkout", token=user.token, json_body=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    sid = session_id(resp.get_json()["url"])
    fake.complete_checkout(sid)
    return sid


def _subscribe(client, fake: FakeStripe, db, user, plan: str, *, times: int = 1) -> str:
    fake.new_events()
    _checkout(client, fake, user, plan=plan)
    _deliver_all(client, fake.new_events(), times=times)
    drain_ok()
    return _profile(db, user.id)["stripe_subscription_id"]


def _spend(db, user_id: str, amount: int) -> None:
    from shared.billing import ledger as credit_ledger

    with db.service() as tx:
        credit_ledger.debit(tx, user_id, amount, f"test-spend:{random.random()}")  # noqa: S311


def _keys(db, user_id: str, kind: str) -> list[str]:
    return [r["idempotency_key"] for r in ledger(db, user_id) if r["kind"] == kind]


def test_checkout_creates_the_customer_once_and_reuses_it(client, stripe_fake, make_user, db):
    user = make_user()
    resp = client.post("/api/billing/checkout", token=user.token, json_body={"topup": 600})
    assert resp.status_code == 200 and resp.get_json()["url"].startswith(stripe_fake.url)
    customer = _profile(db, user.id)["stripe_customer_id"]
    assert customer and customer.startswith("cus_")
    again = client.post("/api/billing/checkout", token=user.token, json_body={"plan": "basic"})
    assert again.status_code == 200
    assert _profile(db, user.id)["stripe_customer_id"] == customer
    sessions = stripe_fake.client().v1.checkout.sessions.list({"customer": customer}).data
    assert {s.mode for s in sessions} == {"payment", "subscription"}
    assert all(s.client_reference_id == user.id for s in sessions)


def test_concurrent_first_checkouts_make_one_customer(client, stripe_fake, make_user, db, app):
    from tests.support.harness import ApiClient

    user = make_user()
    barrier = threading.Barrier(6)

    def go(_):
        c = ApiClient(app)
        barrier.wait()
        return c.post("/api/billing/checkout", token=user.token, json_body={"topup": 2000})

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(go, range(6)))
    assert all(r.status_code == 200 for r in results), [r.get_data(as_text=True) for r in results]
    customer = _profile(db, user.id)["stripe_customer_id"]
    made = [c for c in stripe_fake.client().v1.customers.list({"email": user.email}).data]
    assert [c.id for c in made] == [customer]
    sessions = stripe_fake.client().v1.checkout.sessions.list({"customer": customer, "limit": 100}).data
    assert len(sessions) == 6


def test_topup_credits_arrive_once(client, stripe_fake, make_user, db):
    user = make_user()
    stripe_fake.new_events()
    sid = _checkout(client, stripe_fake, user, topup=2000)
    _deliver_all(client, stripe_fake.new_events(), times=3, seed=1)
    drain_ok()
    assert _keys(db, user.id, "topup") == [f"topup:{sid}"]
    b = balance(db, user.id)
    assert (b["subscription_credits"], b["topup_credits"]) == (50, 2000)
    credits = client.get("/api/credits", token=user.token).get_json()
    assert credits["balance"]["available"] == 2050 and credits["balance"]["topup_credits"] == 2000
    assert_ledger_matches_balance(db, user.id)


def test_subscription_grants_monthly_credits_with_the_trial_rolled_over(client, stripe_fake, make_user, db):
    user = make_user()
    sub = _subscribe(client, stripe_fake, db, user, "pro", times=3)
    p = _profile(db, user.id)
    assert (p["plan"], p["plan_status"]) == ("pro", "active") and sub.startswith("sub_")
    assert p["plan_period_end"] is not None
    grants = [r for r in ledger(db, user.id) if r["kind"] == "subscription_grant"]
    assert len(grants) == 1 and grants[0]["subscription_delta"] == 4000
    b = balance(db, user.id)
    assert b["subscription_credits"] == 4050  # the unexpired trial rolls over (Pro keeps ≤ 500)
    assert b["subscription_expires_at"] == p["plan_period_end"]
    assert plan_limits(p["plan"], p["plan_status"]).idle_stop_after.total_seconds() == 12 * 3600
    assert_ledger_matches_balance(db, user.id)


def test_basic_plan_has_no_rollover(client, stripe_fake, make_user, db):
    user = make_user()
    _subscribe(client, stripe_fake, db, user, "basic")
    assert balance(db, user.id)["subscription_credits"] == 1000
    assert [r["subscription_delta"] for r in ledger(db, user.id) if r["kind"] == "subscription_expiry"] == [-50]
    assert client.post("/api/billing/checkout", token=user.token, json_body={"plan": "pro"}).status_code == 409


def test_renewal_rolls_over_up_to_the_cap(client, stripe_fake, make_user, db):
    user = make_user()
    sub = _subscribe(client, stripe_fake, db, user, "pro")
    _spend(db, user.id, 4050 - 1200)  # 1,200 left; Pro keeps at most 500
    stripe_fake.renew_subscription(sub)
    _deliver_all(client, stripe_fake.new_events(), times=2, seed=2)
    drain_ok()
    assert balance(db, user.id)["subscription_credits"] == 4000 + 500
    expiry = [r for r in ledger(db, user.id) if r["kind"] == "subscription_expiry"]
    assert [r["subscription_delta"] for r in expiry] == [-700]
    assert_ledger_matches_balance(db, user.id)


def test_plan_upgrade_with_rollover(client, stripe_fake, make_user, db):
    user = make_user()
    sub = _subscribe(client, stripe_fake, db, user, "pro")
    _spend(db, user.id, 4050 - 3000)
    stripe_fake.update_subscription(sub, price=stripe_fake.prices["power"])
    _deliver_all(client, stripe_fake.new_events())
    drain_ok()
    p = _profile(db, user.id)
    assert (p["plan"], p["plan_status"]) == ("power", "active")
    assert plan_limits(p["plan"], p["plan_status"]).ssh is True
    stripe_fake.renew_subscription(sub)
    _deliver_all(client, stripe_fake.new_events(), times=3, seed=3)
    drain_ok()
    # Power keeps at most 2,000 of the 3,000 left and adds 15,000.
    assert balance(db, user.id)["subscription_credits"] == 17_000
    assert_ledger_matches_balance(db, user.id)


def test_payment_failed_marks_past_due_and_notifies_once_then_recovers(client, stripe_fake, make_user, db):
    user = make_user()
    sub = _subscribe(client, stripe_fake, db, user, "basic")
    stripe_fake.renew_subscription(sub, fail=True)
    failed = stripe_fake.new_events()
    assert "invoice.payment_failed" in {e["type"] for e in failed}
    _deliver_all(client, failed, times=3, seed=4)
    drain_ok()
    assert _profile(db, user.id)["plan_status"] == "past_due"
    notes = client.get("/api/notifications", token=user.token)
    with db.service() as tx:
        rows = tx.sql("select kind, data from notifications where user_id = %(u)s", {"u": user.id}).fetchall()
    assert [r["kind"] for r in rows] == ["billing.payment_failed"], notes
    grants_before = len(_keys(db, user.id, "subscription_grant"))
    invoice = rows[0]["data"]["invoice"]
    stripe_fake.pay_invoice(invoice)
    _deliver_all(client, stripe_fake.new_events(), times=2, seed=5)
    drain_ok()
    assert _profile(db, user.id)["plan_status"] == "active"
    assert len(_keys(db, user.id, "subscription_grant")) == grants_before + 1
    assert_ledger_matches_balance(db, user.id)


def test_a_failure_reported_after_the_invoice_was_paid_changes_nothing(client, stripe_fake, make_user, db):
    user = make_user()
    sub = _subscribe(client, stripe_fake, db, user, "basic")
    stripe_fake.renew_subscription(sub, fail=True)
    failed = stripe_fake.new_events()
    invoice = next(e for e in failed if e["type"] == "invoice.payment_failed")["data"]["object"]["id"]
    stripe_fake.pay_invoice(invoice)
    later = stripe_fake.new_events()
    _deliver_all(client, later + failed)  # the stale failure arrives last
    drain_ok()
    assert _profile(db, user.id)["plan_status"] == "active"
    with db.service() as tx:
        assert tx.sql("select count(*) as n from notifications where user_id = %(u)s", {"u": user.id}).fetchone()["n"] == 0


def test_subscription_cancelled_mid_period(client, stripe_fake, make_user, db):
    user = make_user()
    sub = _subscribe(client, stripe_fake, db, user, "pro")
    before = balance(db, user.id)
    entries = len(ledger(db, user.id))
    stripe_fake.cancel_subscription(sub)
    _deliver_all(client, stripe_fake.new_events(), times=3, seed=6)
    drain_ok()
    p = _profile(db, user.id)
    assert p["plan_status"] == "canceled"
    assert plan_limits(p["plan"], p["plan_status"]).plan == "trial"
    # Paid-for credits stay spendable until the period they were bought for ends.
    assert balance(db, user.id) == before and len(ledger(db, user.id)) == entries
    assert client.post("/api/billing/checkout", token=user.token, json_body={"plan": "basic"}).status_code == 200


def test_refund_after_the_credits_were_spent(client, stripe_fake, make_user, db):
    user = make_user()
    stripe_fake.new_events()
    _checkout(client, stripe_fake, user, topup=600)
    _deliver_all(client, stripe_fake.new_events())
    drain_ok()
    _spend(db, user.id, 50 + 450)  # the trial, then 450 of the 600
    assert balance(db, user.id)["topup_credits"] == 150
    charge = next(c for c in stripe_fake.client().v1.charges.list({"customer": _profile(db, user.id)["stripe_customer_id"]}).data)
    stripe_fake.refund_charge(charge.id, amount=250)  # half of $5 → 300 credits
    stripe_fake.refund_charge(charge.id)  # the rest → 600 in total
    _deliver_all(client, stripe_fake.new_events(), times=3, seed=7)
    drain_ok()
    clawbacks = [r for r in ledger(db, user.id) if r["kind"] == "refund_clawback"]
    assert sum(-r["topup_delta"] for r in clawbacks) == 150  # what was left
    assert sum(r["shortfall"] for r in clawbacks) == 450  # what was already spent
    assert balance(db, user.id)["topup_credits"] == 0
    assert_ledger_matches_balance(db, user.id)


def test_portal_returns_a_url(client, stripe_fake, make_user):
    user = make_user()
    resp = client.post("/api/billing/portal", token=user.token)
    assert resp.status_code == 200 and resp.get_json()["url"].startswith(stripe_fake.url)


def test_connect_onboarding_and_account_updated(client, stripe_fake, make_user, db):
    creator = make_user(role="creator")
    assert_problem(client.post("/api/platform/connect", token=make_user().token), 403)
    first = client.post("/api/platform/connect", token=creator.token)
    assert first.status_code == 200, first.get_data(as_text=True)
    body = first.get_json()
    assert body["account_id"].startswith("acct_") and body["payouts_enabled"] is False
    again = client.post("/api/platform/connect", token=creator.token).get_json()
    assert again["account_id"] == body["account_id"] and again["url"] != body["url"]
    account = stripe_fake.client().v1.accounts.retrieve(body["account_id"])
    assert account.controller.stripe_dashboard.type == "express"
    stripe_fake.new_events()
    stripe_fake.onboard_account(body["account_id"])
    _deliver_all(client, stripe_fake.new_events(), times=3, seed=8)
    drain_ok()
    assert _profile(db, creator.id)["connect_payouts_enabled"] is True


def test_every_handled_event_three_times_in_shuffled_order(client, stripe_fake, make_user, db):
    """The whole life of a customer and a creator, every event delivered three times, shuffled, and
    handled after all of them arrived: each effect exactly once, and the final state is Stripe's."""
    user = make_user()
    creator = make_user(role="creator")
    fake = stripe_fake
    fake.new_events()
    _checkout(client, fake, user, plan="pro")
    sub = fake.client().v1.subscriptions.list({"customer": _profile(db, user.id)["stripe_customer_id"]}).data[0].id
    topup_session = _checkout(client, fake, user, topup=600)
    fake.renew_subscription(sub, fail=True)
    failing = [e for e in fake.events("invoice.payment_failed") if e["data"]["object"]["subscription"] == sub][0]
    fake.pay_invoice(failing["data"]["object"]["id"])
    fake.update_subscription(sub, price=fake.prices["power"])
    charge = fake.client().v1.charges.list({"customer": _profile(db, user.id)["stripe_customer_id"]}).data
    topup_charge = next(c for c in charge if c.amount == 500)
    fake.refund_charge(topup_charge.id, amount=100)
    fake.cancel_subscription(sub)
    account = client.post("/api/platform/connect", token=creator.token).get_json()["account_id"]
    fake.onboard_account(account)
    events = fake.new_events()
    handled = {"checkout.session.completed", "invoice.paid", "invoice.payment_failed",
               "customer.subscription.updated", "customer.subscription.deleted", "charge.refunded",
               "account.updated"}
    assert handled <= {e["type"] for e in events}

    _deliver_all(client, events, times=3, seed=42)
    drain_ok()

    with db.service() as tx:
        stored = tx.sql("select id, processed_at from stripe_events where id = any(%(ids)s)",
                        {"ids": [e["id"] for e in events]}).fetchall()
    assert len(stored) == len(events) and all(r["processed_at"] for r in stored)
    paid_invoices = {e["data"]["object"]["id"] for e in events if e["type"] == "invoice.paid"}
    assert sorted(_keys(db, user.id, "subscription_grant")) == sorted(f"invoice:{i}" for i in paid_invoices)
    assert _keys(db, user.id, "topup") == [f"topup:{topup_session}"]
    clawbacks = [r for r in ledger(db, user.id) if r["kind"] == "refund_clawback"]
    assert sum(-r["topup_delta"] + r["shortfall"] for r in clawbacks) == 120  # $1 of $5 → 120 of 600
    p = _profile(db, user.id)
    assert (p["plan"], p["plan_status"]) == ("power", "canceled")  # Stripe's final word
    assert _profile(db, creator.id)["connect_payouts_enabled"] is True
    with db.service() as tx:
        n = tx.sql("select count(*) as n from notifications where user_id = %(u)s", {"u": user.id}).fetchone()["n"]
    assert n == 0  # the failed invoice was paid before we handled its failure
    assert_ledger_matches_balance(db, user.id)

    # Delivering everything again, in another order, changes nothing at all.
    before = (ledger(db, user.id), balance(db, user.id), _profile(db, user.id))
    _deliver_all(client, events, times=1, seed=7)
    assert drain_ok() == []
    assert (ledger(db, user.id), balance(db, user.id), _profile(db, user.id)) == before


def test_without_stripe_keys_billing_is_not_configured(client, make_user, monkeypatch):
    from shared.config import reset_settings

    user = make_user()
    monkeypatch.setenv("STRIPE_SECRET_KEY", "")
    reset_settings()
    try:
        for path, body in (("/api/billing/checkout", {"plan": "pro"}), ("/api/billing/portal", None)):
            problem = assert_problem(client.post(path, token=user.token, json_body=body), 503)
            assert "not configured" in problem["detail"]
        creator = make_user(role="creator")
        assert_problem(client.post("/api/platform/connect", token=creator.token), 503)
    finally:
        monkeypatch.undo()
        reset_settings()


@pytest.mark.parametrize("body", [{}, {"plan": "pro", "topup": 600}, {"plan": "trial"}, {"topup": 601}])
def test_checkout_needs_exactly_one_known_plan_or_topup(client, make_user, body):
    assert_problem(client.post("/api/billing/checkout", token=make_user().token, json_body=body), 422)


def test_a_paid_mid_period_upgrade_invoice_tops_up_to_the_new_allowance(client, stripe_fake, make_user, db):
    """Stripe's upgrade invoice (billing_reason `subscription_update`: a proration credit for the old
    plan, a charge for the new one). The fake does not invoice upgrades, so the event is built from
    one of its invoices with Stripe's fixture event (build_event), then signed and delivered."""
    import copy

    from devstack.emulators.stripe import build_event
    from devstack.emulators.stripe.fixtures import new_id

    user = make_user()
    sub = _subscribe(client, stripe_fake, db, user, "pro")
    stripe_fake.update_subscription(sub, price=stripe_fake.prices["power"])
    base = next(i for i in stripe_fake.control("GET", "/_fake/objects/invoice")["data"] if i["subscription"] == sub)
    invoice = copy.deepcopy(base)
    invoice.update(id=new_id("invoice"), billing_reason="subscription_update")
    [line] = invoice["lines"]["data"]
    old, new = copy.deepcopy(line), copy.deepcopy(line)
    old["amount"] = -1500
    old["pricing"]["price_details"]["price"] = stripe_fake.prices["pro"]
    new["amount"] = 5000
    new["pricing"]["price_details"]["price"] = stripe_fake.prices["power"]
    invoice["lines"]["data"] = [old, new]
    before = balance(db, user.id)["subscription_credits"]
    event = build_event("invoice.paid", invoice)
    _deliver_all(client, [event] + stripe_fake.new_events(), times=3, seed=9)
    drain_ok()
    assert balance(db, user.id)["subscription_credits"] == before + 15_000 - 4_000
    assert _keys(db, user.id, "subscription_expiry") == []
    assert _profile(db, user.id)["plan"] == "power"
    assert_ledger_matches_balance(db, user.id)
