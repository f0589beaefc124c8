"""`openagents admin …` against the local stack: real Postgres, the Fly emulator, the job queue.
Each command is run through `cli.main.main` and checked by its effects and its audit row."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from cli.main import main
from shared import jobs
from tests.integration.lifecycle.conftest import Lifecycle, provisioned


def admin(capsys: Any, *args: str) -> tuple[int, Any]:
    capsys.readouterr()
    code = main(["admin", *args])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if code == 0 else out.err)


def audit_rows(db: Any, action: str, target: str | None = None) -> list[dict[str, Any]]:
    with db.service() as tx:
        return tx.sql("select actor_id::text as actor_id, action, target, data from audit_log where action = %(a)s"
                      " and (%(t)s::text is null or target = %(t)s) order by id", {"a": action, "t": target}).fetchall()


def balance(db: Any, user_id: str) -> tuple[int, int]:
    with db.service() as tx:
        row = tx.sql("select subscription_credits, topup_credits from credit_balances where user_id = %(u)s",
                     {"u": user_id}).fetchone()
    return (row["subscription_credits"], row["topup_credits"]) if row else (0, 0)


def test_credits_grant_and_revoke_are_ledgered_keyed_and_audited(capsys, make_user, db, monkeypatch):
    monkeypatch.setenv("OPENAGENTS_OPERATOR", "ops-alice")
    user = make_user()
    sub0, top0 = balance(db, user.id)

    code, out = admin(capsys, "credits", "grant", user.email.upper(), "50", "--reason", "outage goodwill")
    assert code == 0, out
    assert out["user_id"] == user.id and out["entry"]["kind"] == "adjustment" and not out["entry"]["duplicate"]
    assert balance(db, user.id) == (sub0, top0 + 50)
    rows = audit_rows(db, "admin.credits_granted", user.id)
    assert len(rows) == 1 and rows[0]["actor_id"] == user.id
    assert rows[0]["data"]["operator"] == "ops-alice" and rows[0]["data"]["credits"] == 50
    assert rows[0]["data"]["reason"] == "outage goodwill"

    # The same command again (a retried shell line) moves nothing and writes no second audit row.
    code, again = admin(capsys, "credits", "grant", user.id, "50", "--reason", "outage goodwill")
    assert code == 0 and again["entry"]["duplicate"] and again["entry"]["id"] == out["entry"]["id"]
    assert balance(db, user.id) == (sub0, top0 + 50)
    assert len(audit_rows(db, "admin.credits_granted", user.id)) == 1

    code, out = admin(capsys, "credits", "revoke", user.id, "30", "--reason", "granted twice by mistake")
    assert code == 0, out
    assert balance(db, user.id) == (sub0, top0 + 20)
    # More than the balance holds: everything goes, the rest is the entry's shortfall, never a negative balance.
    code, out = admin(capsys, "credits", "revoke", user.id, str(sub0 + top0 + 1000), "--reason", "fraud")
    assert code == 0, out
    assert balance(db, user.id) == (0, 0) and out["entry"]["shortfall"] == 980
    assert len(audit_rows(db, "admin.credits_revoked", user.id)) == 2
    with db.service() as tx:
        ledger = tx.sql("select kind, reference from credit_transactions where user_id = %(u)s and kind = 'adjustment'"
                        " order by id", {"u": user.id}).fetchall()
    assert [r["reference"]["delta"] for r in ledger] == [50, -30, -(sub0 + top0 + 1000)]
    assert all(r["reference"]["operator"] == "ops-alice" for r in ledger)

    assert admin(capsys, "credits", "grant", "nobody@nowhere.invalid", "5", "--reason", "x y z")[0] == 1
    assert admin(capsys, "credits", "grant", user.id, "5", "--reason", "  ")[0] == 1
    with pytest.raises(SystemExit):
        main(["admin", "credits", "grant", user.id, "5"])  # --reason is required


def test_account_at_a_glance(capsys, lifecycle: Lifecycle, make_user, db):
    user = make_user()
    iid, _ = provisioned(lifecycle, user)
    assert admin(capsys, "credits", "grant", user.id, "7", "--reason", "welcome back")[0] == 0
    code, out = admin(capsys, "account", user.email)
    assert code == 0, out
    assert out["profile"]["id"] == user.id and out["profile"]["email"] == user.email
    assert out["profile"]["plan"]
    assert out["balance"]["topup_credits"] == balance(db, user.id)[1]
    assert [i["id"] for i in out["instances"]] == [iid] and out["instances"][0]["status"] == "running"
    assert out["recent_ledger"][0]["kind"] == "adjustment"
    assert audit_rows(db, "admin.account_viewed", user.id)


def _stuck_instance(db: Any, user_id: str, status: str = "provisioning", stage: str = "volume") -> str:
    with db.service() as tx:
        agent = tx.sql("select id from agents where status = 'published' order by slug limit 1").fetchone()["id"]
        # Inserted already old: an update would be stamped now by the table's touch trigger.
        iid = str(tx.sql("insert into agent_instances (user_id, agent_id, status, provision_stage, updated_at) values"
                         " (%(u)s, %(a)s, %(s)s, %(g)s, now() - interval '2 hours') returning id",
                         {"u": user_id, "a": agent, "s": status, "g": stage}).fetchone()["id"])
    return iid


def test_stuck_and_the_jobs_of_an_instance(capsys, lifecycle: Lifecycle, make_user, db):
    user = make_user()
    iid = _stuck_instance(db, user.id)
    with db.service() as tx:
        job_id = jobs.defer(tx, jobs.PROVISION_INSTANCE, instance_id=iid)
    try:
        code, out = admin(capsys, "stuck", "--minutes", "60")
        assert code == 0, out
        mine = [r for r in out if r["id"] == iid]
        assert mine and mine[0]["provision_stage"] == "volume" and mine[0]["pending_jobs"] == 1
        assert mine[0]["email"] == user.email and mine[0]["stuck_s"] >= 3600
        assert not [r for r in admin(capsys, "stuck", "--minutes", "60", "--stage", "machine")[1] if r["id"] == iid]
        assert not [r for r in admin(capsys, "stuck", "--minutes", "180")[1] if r["id"] == iid]
        assert audit_rows(db, "admin.stuck_listed")

        code, listed = admin(capsys, "jobs", "--instance", iid)
        assert code == 0 and [(j["id"], j["task"], j["status"]) for j in listed] == \
            [(job_id, "provision_instance", "todo")]
        assert admin(capsys, "jobs", "--instance", iid, "--retry")[0] == 1  # acting needs one job (--id)
        assert admin(capsys, "jobs", "--id", str(job_id), "--retry")[0] == 1  # waiting already

        code, out = admin(capsys, "jobs", "--id", str(job_id), "--cancel")
        assert code == 0 and out["action"] == "cancelled"
        assert admin(capsys, "jobs", "--id", str(job_id))[1][0]["status"] == "cancelled"
        assert audit_rows(db, "admin.job_cancelled", f"job:{job_id}")[0]["data"]["instance_id"] == iid

        code, out = admin(capsys, "jobs", "--id", str(job_id), "--retry")
        assert code == 0 and out["action"] == "rerun" and out["new_job_id"] not in (None, job_id)
        fresh = admin(capsys, "jobs", "--id", str(out["new_job_id"]))[1][0]
        assert fresh["task"] == "provision_instance" and fresh["status"] == "todo"
        assert fresh["args"] == {"instance_id": iid} and fresh["lock"] == f"instance:{iid}"
        assert audit_rows(db, "admin.job_rerun", f"job:{job_id}")[0]["data"]["new_job_id"] == out["new_job_id"]
        assert admin(capsys, "jobs", "--id", "999999999")[0] == 1
    finally:
        with db.service() as tx:
            tx.sql("delete from procrastinate.procrastinate_jobs where lock = %(l)s", {"l": f"instance:{iid}"})
            tx.sql("update agent_instances set status = 'destroyed' where id = %(i)s", {"i": iid})


def test_force_destroy_cleans_up_fly(capsys, lifecycle: Lifecycle, make_user, db):
    user = make_user()
    iid, _ = provisioned(lifecycle, user)
    assert lifecycle.fly_resources(iid)["app"]
    code, err = admin(capsys, "destroy", iid)
    assert code == 1 and "--force" in err
    assert lifecycle.row(iid)["status"] == "running"

    # A stuck state the API's DELETE would not move on its own: forced, from wherever it is.
    with db.service() as tx:
        tx.sql("update agent_instances set status = 'provisioning', provision_stage = 'machine' where id = %(i)s",
               {"i": iid})
        jobs.defer(tx, jobs.PROVISION_INSTANCE, instance_id=iid)
    code, out = admin(capsys, "destroy", "--force", iid)
    assert code == 0, out
    assert out["was"] == "provisioning" and len(out["jobs_cancelled"]) == 1
    row = lifecycle.row(iid)
    assert row["status"] == "destroyed" and row["destroyed_at"] is not None
    assert lifecycle.fly_resources(iid) == {"app": False, "machines": [], "volumes": []}
    rows = audit_rows(db, "admin.instance_force_destroyed", iid)
    assert len(rows) == 1 and rows[0]["actor_id"] == user.id and rows[0]["data"]["was"] == "provisioning"
    assert admin(capsys, "destroy", "--force", iid)[0] == 1  # already destroyed
    assert admin(capsys, "destroy", "--force", str(uuid.uuid4()))[0] == 1


def test_orphans_are_reported_and_left_alone(capsys, lifecycle: Lifecycle, make_user, db):
    from shared.lifecycle.config import fly_client
    from shared.lifecycle.names import app_name

    user = make_user()
    live, _ = provisioned(lifecycle, user)
    stray = str(uuid.uuid4())  # an app whose instance never existed
    with fly_client() as fly:
        fly.create_app(app_name(stray))
    try:
        code, out = admin(capsys, "orphans")
        assert code == 0, out
        by_app = {o["app"]: o for o in out}
        assert by_app[app_name(stray)]["kind"] == "instance-app" and by_app[app_name(stray)]["instance_id"] == stray
        assert app_name(live) not in by_app
        assert lifecycle.fly.call(lambda s: app_name(stray) in s.apps)  # report only: nothing deleted
        assert audit_rows(db, "admin.orphans_listed")
    finally:
        with fly_client() as fly:
            fly.delete_app(app_name(stray), missing_ok=True)
