"""Concurrency: two workers racing on one instance, and a worker killed in the middle of the saga."""

from __future__ import annotations

import time

from shared import jobs
from shared.lifecycle.states import FLY_TO_STATUS
from tests.integration.lifecycle.conftest import WorkerProcess, pending_jobs, provisioned, wait_for


def test_two_workers_racing_on_one_instance(lifecycle, make_user, db, tmp_path):
    """Seven actions deferred at once *without* the queue's per-instance lock, taken by two workers
    at the same time: the advisory lock alone keeps them from interleaving, each re-checks its
    transition, and the database ends in agreement with Fly."""
    user = make_user()
    iid, row = provisioned(lifecycle, user)
    actions = ["suspend", "start", "stop", "restart", "start", "suspend", "stop", "start"]
    worker = WorkerProcess(tmp_path / "worker.log", concurrency=4)
    try:
        wait_for(lambda: "worker starting" in worker.output(), timeout=30, what="the worker")
        time.sleep(1.0)  # let it open its pool and start polling
        with db.service() as tx:
            ids = [jobs.defer(tx, jobs.INSTANCE_ACTIONS[action], lock=None, queueing_lock=None, instance_id=iid)
                   for action in actions]
        lifecycle.drain(timeout=90, concurrency=4)  # this process takes jobs too, alongside the worker
        wait_for(lambda: not pending_jobs(db), timeout=60, what="the other worker")
    finally:
        worker.stop()
    with db.service() as tx:  # the worker deletes the jobs it finished; the ones run here stay `succeeded`
        left = tx.sql("select status::text as status from procrastinate.procrastinate_jobs where id = any(%(i)s)",
                      {"i": ids}).fetchall()
    assert all(o["status"] == "succeeded" for o in left), left
    assert 0 < len(left) < len(ids), "both workers should have taken some of the jobs"
    got = lifecycle.row(iid)
    state = lifecycle.machine_state(row["fly_machine_id"])
    assert got["status"] in ("running", "suspended", "stopped"), got
    assert FLY_TO_STATUS[state] == got["status"], (state, got["status"])
    assert "Traceback" not in worker.output()


def test_worker_killed_mid_saga_resumes_without_duplicates(lifecycle, make_user, db, tmp_path):
    user = make_user()
    lifecycle.fly.set_faults(reset=True, slow_start={"probability": 1.0, "delay_s": 2.5})
    iid = lifecycle.hire(user, "refund-desk")["id"]
    first = WorkerProcess(tmp_path / "worker-1.log")
    try:
        wait_for(lambda: lifecycle.row(iid)["provision_stage"] == "starting", timeout=30, what="stage starting")
        time.sleep(0.3)  # inside the wait for `started`
    finally:
        first.kill()
    mid = lifecycle.row(iid)
    assert mid["status"] == "provisioning" and mid["fly_machine_id"]
    stuck = pending_jobs(db, [iid])
    assert [j["status"] for j in stuck] == ["doing"]  # left behind by the dead worker
    lifecycle.fly.clear_faults()
    time.sleep(2.0)  # its heartbeat is now older than WORKER_STALLED_AFTER_S
    second = WorkerProcess(tmp_path / "worker-2.log")
    try:
        wait_for(lambda: lifecycle.row(iid)["status"] == "running", timeout=45, what="running after restart")
    finally:
        second.stop()
    done = lifecycle.row(iid)
    assert (done["fly_app"], done["fly_machine_id"], done["fly_volume_id"]) == (
        mid["fly_app"], mid["fly_machine_id"], mid["fly_volume_id"])
    res = lifecycle.fly_resources(iid)
    assert res["machines"] == [done["fly_machine_id"]] and res["volumes"] == [done["fly_volume_id"]]
    with db.service() as tx:
        secrets = tx.sql("select count(*) as n from vault.secrets where name = %(n)s",
                         {"n": f"instance-gateway:{iid}"}).fetchone()["n"]
        jobs_left = tx.sql("select status::text as status from procrastinate.procrastinate_jobs"
                           " where task_name = 'provision_instance' and args->>'instance_id' = %(i)s", {"i": iid}).fetchall()
    assert secrets == 1
    assert jobs_left == []  # the one provision job succeeded (the worker deletes finished jobs); none is left
    assert "stalled job retried" in second.output()
    from shared.lifecycle import machine_target

    assert machine_target(iid).gateway_token not in first.output() + second.output()  # never logged
