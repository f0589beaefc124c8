"""Billing jobs run through the real queue: each one twice (and "killed" half-way) → nothing reported,
transferred or settled twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jobs.billing  # noqa: F401  (registers the tasks)
from jobs.app import app
from shared import jobs
from shared.billing import metering, payouts
from shared.billing.checkout import ensure_customer
from shared.billing.settlement import settle_turn
from shared.schedules import SCHEDULES
from tests.support import billing_stripe
from tests.support.billing_helpers import set_credits, turn, world
from tests.support.billing_stripe import drain_ok
from tests.support.harness import CANARIES

stripe_fake = billing_stripe.stripe_fake  # the module-scoped fixture, shared

CRON = {"Authorization": f"Bearer {CANARIES['CRON_SECRET']}"}


def _run_cron(client, name: str) -> list:
    with_lock = f"cron:{name}"
    from shared.data import get_db

    with get_db().service() as tx:
        tx.sql("delete from procrastinate.procrastinate_jobs where queueing_lock = %(l)s and status = 'todo'",
               {"l": with_lock})
    resp = client.get(f"/api/cron/{name}", headers=CRON)
    assert resp.status_code == 202, resp.get_data(as_text=True)
    return drain_ok()


def test_schedules_are_periodic_tasks_too():
    periodic = {p.task.name: p.cron for p in app.periodic_registry.periodic_tasks.values()}
    for name in ("reap-turns", "billing-aggregate", "payouts"):
        assert periodic[SCHEDULES[name].task] == SCHEDULES[name].cron
        assert app.tasks[SCHEDULES[name].task].queue == "billing"


def test_reaper_runs_from_the_cron_entry_point(client, db):
    w = world(db)
    dead = turn(db, w, status="streaming", age_minutes=120)
    ran = _run_cron(client, "reap-turns")
    assert [j["task_name"] for j in ran] == ["reap_turns"]
    with db.service() as tx:
        row = tx.sql("select status::text, settled_at from turns where id = %(t)s", {"t": dead}).fetchone()
    assert row["status"] == "interrupted" and row["settled_at"] is not None


def _usage(db, user_id: str, hours_ago: float, n: int = 3) -> None:
    with db.service() as tx:
        for i in range(n):
            tx.sql("insert into usage_events (user_id, source_request_id, model, input_tokens, output_tokens,"
                   " compute_seconds, created_at) values (%(u)s, gen_random_uuid()::text, 'claude-sonnet-4-5',"
                   " 100000, 10000, 1, now() - make_interval(secs => %(s)s))", {"u": user_id, "s": hours_ago * 3600 + i})


def test_meter_job_twice_reports_each_hour_once(client, db, stripe_fake, make_user):
    user = make_user()
    customer = ensure_customer(user.id)
    with db.service() as tx:
        tx.sql("delete from meter_reports")  # start from a known watermark
    _usage(db, user.id, hours_ago=3)
    _usage(db, user.id, hours_ago=2)
    _usage(db, user.id, hours_ago=0)  # the current hour is not complete: not yet
    first = _run_cron(client, "billing-aggregate")
    assert [j["task_name"] for j in first] == ["billing_aggregate"]
    sent = [e for e in stripe_fake.meter_events() if e["payload"]["stripe_customer_id"] == customer]
    assert len(sent) == 2
    # 3 × (100k in × $3 + 10k out × $15)/1M + 3 s of machine = $1.35…, × 1.3 → 176 credits per hour.
    assert {e["payload"]["value"] for e in sent} == {"176"}
    assert all(e["event_name"] == "openagents_credits" for e in sent)
    with db.service() as tx:
        rows = tx.sql("select identifier, reported_at from meter_reports where user_id = %(u)s", {"u": user.id}).fetchall()
    assert sorted(r["identifier"] for r in rows) == sorted(e["identifier"] for e in sent)
    assert all(r["reported_at"] for r in rows)

    _run_cron(client, "billing-aggregate")  # again: nothing new
    # Killed after sending, before marking: the rerun sends the same identifier, Stripe refuses the
    # duplicate, and the row is marked.
    with db.service() as tx:
        tx.sql("update meter_reports set reported_at = null where user_id = %(u)s", {"u": user.id})
    result = metering.run()
    assert (result.reported, result.duplicates) == (0, 2)
    assert len([e for e in stripe_fake.meter_events() if e["payload"]["stripe_customer_id"] == customer]) == 2


def test_payout_job_twice_transfers_once(client, db, stripe_fake, make_user):
    creator = make_user(role="creator")
    account = client.post("/api/platform/connect", token=creator.token).get_json()["account_id"]
    stripe_fake.onboard_account(account, deliver=False)
    with db.service() as tx:
        tx.sql("update profiles set connect_payouts_enabled = true where id = %(c)s", {"c": creator.id})
    w = world(db, price=40, creator_id=creator.id)
    set_credits(db, w.user_id, subscription=1000)  # creators earn only from what was paid
    for _ in range(3):
        settle_turn(turn(db, w))  # 3 × floor(0.85 × 40) = 102 credits
    last_month = datetime.now(UTC).replace(day=1) - timedelta(days=3)
    with db.service() as tx:
        tx.sql("update creator_earnings set created_at = %(t)s where creator_id = %(c)s",
               {"t": last_month, "c": creator.id})
    settle_turn(turn(db, w))  # this month's: waits for next month

    _run_cron(client, "payouts")
    _run_cron(client, "payouts")
    transfers = [t for t in stripe_fake.transfers() if t["destination"] == account]
    assert len(transfers) == 1 and transfers[0]["amount"] == 102 and transfers[0]["currency"] == "usd"
    with db.service() as tx:
        [payout] = tx.sql("select * from payouts where creator_id = %(c)s", {"c": creator.id}).fetchall()
        unpaid = tx.sql("select credits from creator_earnings where creator_id = %(c)s and payout_id is null",
                        {"c": creator.id}).fetchall()
    assert (payout["status"], payout["credits"], payout["stripe_transfer_id"]) == ("paid", 102, transfers[0]["id"])
    assert payout["period"] == f"{last_month:%Y-%m}"
    assert [r["credits"] for r in unpaid] == [34]

    # Killed after the transfer, before marking it paid: the rerun replays the same idempotency key.
    with db.service() as tx:
        tx.sql("update payouts set status = 'pending', stripe_transfer_id = null, paid_at = null"
               " where id = %(p)s", {"p": payout["id"]})
    assert payouts.run().transferred == 1
    transfers = [t for t in stripe_fake.transfers() if t["destination"] == account]
    assert len(transfers) == 1


def test_a_deferred_stripe_event_job_for_an_unknown_event_is_harmless(db):
    with db.service() as tx:
        jobs.defer(tx, jobs.STRIPE_EVENT, lock=None, event_id="evt_does_not_exist")
    [job] = drain_ok()
    assert job["task_name"] == "stripe_event"
