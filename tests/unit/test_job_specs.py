"""Each job is declared once (`shared.jobs`): the worker registers exactly those tasks under their
specs, schedules name registered tasks, locks are derived the same way at every defer site, and
declaring jobs costs the serverless entry points no procrastinate import."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from bench.coldstart import ROOT, child_env
from jobs.app import app
from shared import jobs
from shared.schedules import SCHEDULES, WORKER_SCHEDULES


@pytest.fixture(scope="module")
def tasks() -> dict:
    app.perform_import_paths()
    return {name: t for name, t in app.tasks.items() if not t.name.startswith(("builtin:", "procrastinate."))}


def test_the_worker_registers_every_spec_and_nothing_else(tasks: dict) -> None:
    assert sorted(tasks) == sorted(spec.name for spec in jobs.ALL)
    for spec in jobs.ALL:
        t = tasks[spec.name]
        assert (t.queue, t.priority, t.lock, t.queueing_lock) == (
            spec.queue, spec.priority, spec.fixed_lock, spec.fixed_queueing_lock), spec.name
        params = [p for p in inspect.signature(t.func).parameters if p != "context"]
        assert tuple(params) == spec.args, spec.name  # what a defer may pass is what the task takes


def test_every_schedule_runs_a_registered_task_periodically(tasks: dict) -> None:
    periodic = {p.periodic_id: (p.task.name, p.cron) for p in app.periodic_registry.periodic_tasks.values()}
    schedules = {**SCHEDULES, **WORKER_SCHEDULES}
    assert periodic == {name: (s.task, s.cron) for name, s in schedules.items()}
    assert all(s.task in tasks for s in schedules.values())


def test_locks_are_derived_from_the_arguments() -> None:
    iid = "5b0c1f1e-0000-4000-8000-000000000001"
    assert jobs.PROVISION_INSTANCE.locks({"instance_id": iid}) == (f"instance:{iid}", f"provision:{iid}")
    assert jobs.STOP_INSTANCE.locks({"instance_id": iid}) == (f"instance:{iid}", f"stop:{iid}")
    assert jobs.STOP_INSTANCE.locks({"instance_id": iid, "reason": "idle"}) == (f"instance:{iid}", f"idle-stop:{iid}")
    assert jobs.UPDATE_INSTANCE.locks({"instance_id": iid}) == (f"instance:{iid}", None)
    assert jobs.REFILL_WARM_POOL.locks({}) == ("warm-pool", "refill_warm_pool")
    assert jobs.HEALTH_CHECK.locks({}, queueing_lock="cron:health-check") == (None, "cron:health-check")
    assert jobs.START_INSTANCE.locks({"instance_id": iid}, lock=None, queueing_lock=None) == (None, None)
    assert all(jobs.INSTANCE_ACTIONS[a].name == f"{a}_instance" for a in jobs.INSTANCE_ACTIONS)


def test_a_defer_must_fit_its_spec() -> None:
    with pytest.raises(TypeError, match="needs an explicit lock"):
        jobs.STRIPE_EVENT.locks({"event_id": "evt_1"})  # the webhook picks the customer's lock
    assert jobs.STRIPE_EVENT.locks({"event_id": "evt_1"}, lock="stripe-customer:cus_1") == ("stripe-customer:cus_1", None)
    with pytest.raises(TypeError, match="takes no argument instance"):
        jobs.REAP_TURNS.locks({"instance": "x"})


def test_entry_points_that_defer_do_not_import_procrastinate() -> None:
    code = ("import sys, api.cron, api.instances, api.stripe_webhook, shared.jobs, shared.schedules\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('procrastinate', 'jobs')))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                       timeout=60, check=True)
    assert r.stdout.strip() == "[]", r.stdout
