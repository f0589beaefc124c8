import json

from shared.schedules import SCHEDULES
from tests.support.harness import CANARIES, assert_problem

AUTH = {"Authorization": f"Bearer {CANARIES['CRON_SECRET']}"}


def test_cron_requires_the_secret(client):
    assert_problem(client.get("/api/cron/health-check"), 401)
    assert_problem(client.get("/api/cron/health-check", headers={"Authorization": "Bearer wrong"}), 401)
    assert_problem(client.get("/api/cron/health-check", headers={"Authorization": CANARIES["CRON_SECRET"]}), 401)


def test_unknown_cron_is_404(client):
    assert_problem(client.get("/api/cron/mine-bitcoin", headers=AUTH), 404)


def test_cron_defers_once_while_queued(client, db):
    with db.service() as tx:
        tx.sql("delete from procrastinate.procrastinate_jobs where queueing_lock = 'cron:reconcile'")
    first = client.get("/api/cron/reconcile", headers=AUTH)
    assert first.status_code == 202
    body = first.get_json()
    assert body["task"] == "reconcile" and body["job_id"] and not body["already_queued"]
    again = client.get("/api/cron/reconcile", headers=AUTH).get_json()
    assert again["already_queued"] and again["job_id"] is None
    with db.service() as tx:
        jobs = tx.sql("select task_name, queue_name, status from procrastinate.procrastinate_jobs"
                      " where queueing_lock = 'cron:reconcile'").fetchall()
        tx.sql("delete from procrastinate.procrastinate_jobs where queueing_lock = 'cron:reconcile'")
    assert jobs == [{"task_name": "reconcile", "queue_name": "lifecycle", "status": "todo"}]


def test_vercel_crons_match_the_schedule_table():
    crons = {c["path"]: c["schedule"] for c in json.load(open("vercel.json"))["crons"]}
    assert crons == {f"/api/cron/{n}": s.cron for n, s in SCHEDULES.items()}
