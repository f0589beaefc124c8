"""The scheduled sweeps: health check, reconcile, idle shutdown; the update primitive; cron entry points."""

from __future__ import annotations

import uuid

from shared.lifecycle.idle import idle_shutdown
from shared.lifecycle.reconcile import reconcile
from tests.integration.lifecycle.conftest import provisioned, wait_for
from tests.support.harness import CANARIES
from tests.support.health_sweep import swept


def _notifications(env, user):
    return env.client.get("/api/notifications", token=user.token).get_json()["items"]


# --- health check ---------------------------------------------------------------------------------

def test_health_check_never_wakes_a_suspended_machine(lifecycle, make_user):
    user = make_user()
    iid, row = provisioned(lifecycle, user)
    lifecycle.action(user, iid, "suspend")
    lifecycle.drain(instance_ids=[iid])
    assert lifecycle.machine_state(row["fly_machine_id"]) == "suspended"
    result = swept(lifecycle, [iid])
    assert result.instances == 1 and result.probed == 0
    assert lifecycle.machine_state(row["fly_machine_id"]) == "suspended"
    assert lifecycle.row(iid)["status"] == "suspended"


def test_health_check_follows_what_fly_did_on_its_own(lifecycle, make_user):
    user = make_user()
    iid, row = provisioned(lifecycle, user)
    fly = lifecycle.fly.client()
    app, machine = row["fly_app"], row["fly_machine_id"]
    fly.suspend(app, machine)  # Fly's autostop, behind our back
    fly.wait(app, machine, "suspended", timeout_s=10)
    r = swept(lifecycle, [iid])
    assert r.synced == 1 and r.probed == 0
    assert lifecycle.row(iid)["status"] == "suspended" and lifecycle.machine_state(machine) == "suspended"
    fly.start(app, machine)  # traffic through Fly's proxy woke it
    fly.wait(app, machine, "started", timeout_s=10)
    r = swept(lifecycle, [iid])
    assert r.synced == 1 and r.probed == 1 and r.healthy == 1
    assert lifecycle.row(iid)["status"] == "running"
    fly.stop(app, machine)
    fly.wait(app, machine, "stopped", timeout_s=10)
    swept(lifecycle, [iid])
    assert lifecycle.row(iid)["status"] == "stopped" and lifecycle.machine_state(machine) == "stopped"
    fly.close()


def test_health_failures_restart_then_error_after_three(lifecycle, make_user):
    user = make_user()
    iid, row = provisioned(lifecycle, user)
    machine = row["fly_machine_id"]
    sick = lifecycle.volume_dir(row["fly_volume_id"]) / "sick"
    sick.write_text("1")
    for expected in (1, 2):
        r = swept(lifecycle, [iid])
        assert r.probed == 1 and r.healthy == 0 and r.restarted == 1, r
        assert lifecycle.row(iid)["health_failures"] == expected
        wait_for(lambda: lifecycle.machine_state(machine) == "started", what="restart")
    sick.unlink()  # one good probe resets the count
    r = swept(lifecycle, [iid])
    assert r.healthy == 1 and lifecycle.row(iid)["health_failures"] == 0
    sick.write_text("1")
    for _ in range(3):
        wait_for(lambda: lifecycle.machine_state(machine) == "started", what="restart")
        r = swept(lifecycle, [iid])
    assert r.errored == 1, r
    got = lifecycle.row(iid)
    assert got["status"] == "error" and "health check 3 times" in got["error_message"]
    assert lifecycle.machine_state(machine) == "stopped"
    assert [n["kind"] for n in _notifications(lifecycle, user)] == ["instance_error"]
    sick.unlink()
    lifecycle.action(user, iid, "restart")  # from error: back up, count and message cleared
    lifecycle.drain(instance_ids=[iid])
    got = lifecycle.row(iid)
    assert got["status"] == "running" and got["health_failures"] == 0 and got["error_message"] is None


# --- reconcile -------------------------------------------------------------------------------------

def test_reconcile_deletes_orphans_and_flags_missing_machines(lifecycle, make_user):
    user = make_user()
    iid, row = provisioned(lifecycle, user)
    fly = lifecycle.fly.client()
    app = row["fly_app"]
    # an app no instance owns (e.g. left by a crashed provisioning of a row that is gone)
    stray = f"oa-{uuid.uuid4()}"
    fly.create_app(stray)
    fly.create_volume(stray, "data", "iad", 1)
    # a second machine in a live instance's app
    extra = fly.create_machine(app, "extra", "iad", {"image": "img:x", "guest": {"cpus": 1, "memory_mb": 256}})
    result = reconcile()
    assert result.orphan_apps_deleted >= 1 and result.orphan_machines_deleted >= 1
    assert lifecycle.fly.call(lambda s: stray not in s.apps)
    assert lifecycle.fly_resources(iid)["machines"] == [row["fly_machine_id"]]
    assert lifecycle.machine_state(extra.id) in ("destroyed", "destroying", "gone")
    assert lifecycle.row(iid)["status"] == "running"

    # the recorded machine vanishes: the instance goes to error, keeps its app and volume, and a start
    # provisions a new machine on the same volume
    fly.delete_machine(app, row["fly_machine_id"], force=True)
    fly.wait(app, row["fly_machine_id"], "destroyed", timeout_s=10)
    reconcile()
    got = lifecycle.row(iid)
    assert got["status"] == "error" and "machine no longer exists" in got["error_message"]
    assert got["fly_machine_id"] is None and got["fly_volume_id"] == row["fly_volume_id"]
    assert "instance_error" in [n["kind"] for n in _notifications(lifecycle, user)]
    lifecycle.action(user, iid, "start")
    lifecycle.drain(instance_ids=[iid])
    got = lifecycle.row(iid)
    assert got["status"] == "running" and got["fly_machine_id"] not in (None, row["fly_machine_id"])
    assert got["fly_volume_id"] == row["fly_volume_id"]
    fly.close()


def test_reconcile_cleans_what_a_failed_provisioning_left(lifecycle, make_user, db):
    user = make_user()
    iid = lifecycle.hire(user, "market-scout")["id"]
    fly = lifecycle.fly.client()
    fly.create_app(f"oa-{iid}")  # made by an attempt whose cleanup could not reach Fly
    with db.service() as tx:
        tx.sql("delete from procrastinate.procrastinate_jobs where lock = %(l)s", {"l": f"instance:{iid}"})
        tx.sql("update agent_instances set status = 'error', provision_stage = 'volume', error_message = 'x'"
               " where id = %(i)s", {"i": iid})
    reconcile()
    assert lifecycle.fly_resources(iid)["app"] is False
    fly.close()


# --- idle shutdown ---------------------------------------------------------------------------------

def test_idle_stop_follows_the_plan_threshold(lifecycle, make_user, db):
    trial, pro = make_user(), make_user()
    t_id, t_row = provisioned(lifecycle, trial, "copy-editor")
    p_id, p_row = provisioned(lifecycle, pro, "copy-editor")
    with db.service() as tx:
        tx.sql("update profiles set plan = 'pro' where id = %(u)s", {"u": pro.id})
        tx.sql("update agent_instances set last_active_at = now() - interval '3 hours' where id = any(%(i)s::uuid[])",
               {"i": [t_id, p_id]})
    r = idle_shutdown(instance_ids=[t_id, p_id])
    assert r.candidates == 2 and r.stops_deferred == 1  # trial: 2 h passed; pro: 12 h not yet
    lifecycle.drain(instance_ids=[t_id, p_id])
    assert lifecycle.row(t_id)["status"] == "stopped" and lifecycle.machine_state(t_row["fly_machine_id"]) == "stopped"
    assert lifecycle.row(p_id)["status"] == "running"
    with db.service() as tx:
        tx.sql("update agent_instances set last_active_at = now() - interval '13 hours' where id = %(i)s", {"i": p_id})
    assert idle_shutdown(instance_ids=[p_id]).stops_deferred == 1
    with db.service() as tx:  # chat traffic arrives before the stop job runs: it stands down
        tx.sql("update agent_instances set last_active_at = now() where id = %(i)s", {"i": p_id})
    lifecycle.drain(instance_ids=[p_id])
    assert lifecycle.row(p_id)["status"] == "running"


# --- update ----------------------------------------------------------------------------------------

def test_update_waits_for_streaming_turns_then_restarts_on_the_new_config(lifecycle, make_user, db):
    from shared import jobs

    user = make_user()
    iid, row = provisioned(lifecycle, user, "story-weaver")
    with db.service() as tx:
        session = tx.sql("insert into sessions (user_id, instance_id) values (%(u)s, %(i)s) returning id",
                         {"u": user.id, "i": iid}).fetchone()["id"]
        turn = tx.sql("insert into turns (session_id, user_id, instance_id, client_message_id, status)"
                      " values (%(s)s, %(u)s, %(i)s, 'c1', 'streaming') returning id",
                      {"s": session, "u": user.id, "i": iid}).fetchone()["id"]
        jobs.defer(tx, jobs.UPDATE_INSTANCE, instance_id=iid, image="registry.fly.io/openagents-agent:v2")
    from jobs.app import app

    app.perform_import_paths()
    app.run_worker(wait=False, install_signal_handlers=False, queues=["lifecycle"], listen_notify=False)
    with db.service() as tx:
        later = tx.sql("select scheduled_at from procrastinate.procrastinate_jobs where lock = %(l)s"
                       " and task_name = 'update_instance' and status = 'todo'", {"l": f"instance:{iid}"}).fetchone()
    assert later is not None and later["scheduled_at"] is not None  # deferred, not done
    assert lifecycle.fly.call(lambda s: s.machines[row["fly_machine_id"]].config["image"]).endswith(":test")
    with db.service() as tx:
        tx.sql("update turns set status = 'done' where id = %(t)s", {"t": turn})
        tx.sql("update procrastinate.procrastinate_jobs set scheduled_at = now() where lock = %(l)s and status = 'todo'",
               {"l": f"instance:{iid}"})
    lifecycle.drain(instance_ids=[iid])
    m = lifecycle.fly.call(lambda s: (s.machines[row["fly_machine_id"]].config, s.machines[row["fly_machine_id"]].state))
    assert m[0]["image"].endswith(":v2") and m[1] == "started"
    assert m[0]["mounts"][0]["volume"] == row["fly_volume_id"]
    assert lifecycle.row(iid)["status"] == "running"


# --- cron ------------------------------------------------------------------------------------------

def test_cron_deferred_sweeps_run(lifecycle, make_user, db):
    user = make_user()
    iid, row = provisioned(lifecycle, user, "seo-audit")
    auth = {"Authorization": f"Bearer {CANARIES['CRON_SECRET']}"}
    job_ids = []
    for name in ("health-check", "reconcile", "idle-shutdown"):
        resp = lifecycle.client.get(f"/api/cron/{name}", headers=auth)
        assert resp.status_code == 202
        job_ids.append(resp.get_json()["job_id"])
    lifecycle.drain()
    with db.service() as tx:
        done = tx.sql("select id, status::text as status from procrastinate.procrastinate_jobs where id = any(%(i)s)",
                      {"i": [j for j in job_ids if j]}).fetchall()
    assert done and all(r["status"] == "succeeded" for r in done), done
    assert lifecycle.row(iid)["status"] == "running"
