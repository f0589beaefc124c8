"""The health check spread over workers: one sweep lists and syncs, one probe job per page probes."""

from __future__ import annotations

import time

from tests.integration.lifecycle.conftest import provisioned
from tests.support.health_sweep import next_timestamp, probes_run, sweep_only


def _probe_jobs(db, instance_ids):
    with db.service() as tx:
        rows = tx.sql("select args from procrastinate.procrastinate_jobs where task_name = 'health_probe'"
                      " and status = 'todo'").fetchall()
    return [r["args"]["instance_ids"] for r in rows if set(r["args"]["instance_ids"]) & set(instance_ids)]


def test_a_sweep_over_pages_defers_a_probe_per_page_and_handles_failures_once(lifecycle, make_user):
    user = make_user()
    well, _ = provisioned(lifecycle, user)
    sick, row = provisioned(lifecycle, user, "daily-planner")
    (lifecycle.volume_dir(row["fly_volume_id"]) / "sick").write_text("1")
    ids = [well, sick]
    period = next_timestamp()

    # Pages of one machine: each of ours is on a page of its own, so it gets a probe job of its own.
    r = sweep_only(ids, page_size=1, timestamp=period)
    assert r.instances == 2 and r.pages >= 2 and r.probe_jobs == 2 and r.to_probe == 2, r
    assert r.probed == 0  # the sweep itself probes nothing
    assert sorted(_probe_jobs(lifecycle.db, ids)) == sorted([[well], [sick]])

    # The same period swept again (the cron and the schedule both fired): no second probe.
    again = sweep_only(ids, page_size=1, timestamp=period)
    assert again.probe_jobs == 0 and again.already_deferred == 2, again
    assert len(_probe_jobs(lifecycle.db, ids)) == 2

    probes = probes_run(lifecycle, ids)
    ours = [p for p in probes if p.probed]
    assert len(ours) == 2 and sum(p.healthy for p in ours) == 1 and sum(p.restarted for p in ours) == 1, probes
    assert lifecycle.row(sick)["health_failures"] == 1 and lifecycle.row(well)["health_failures"] == 0
    assert not _probe_jobs(lifecycle.db, ids)


def test_a_probe_job_never_wakes_what_was_suspended_after_the_listing_and_drops_when_stale(lifecycle, make_user):
    from shared.lifecycle.health import PERIOD_S, health_probe

    user = make_user()
    iid, row = provisioned(lifecycle, user)
    # Stale: Fly's view it carries is older than a period, so nothing is probed.
    late = health_probe(instance_ids=[iid], listed_at=time.time() - PERIOD_S - 1)
    assert late.stale and late.probed == 0
    # Listed `started`, then suspended by our own job before the probe ran: left alone, not woken.
    lifecycle.action(user, iid, "suspend")
    lifecycle.drain(instance_ids=[iid])
    r = health_probe(instance_ids=[iid], listed_at=time.time())
    assert r.probed == 0 and r.not_running == 1, r
    assert lifecycle.machine_state(row["fly_machine_id"]) == "suspended"
