"""Warm pool: the refill makes suspended units; a hire claims one (nothing made on Fly at hire time),
never the same one twice; an empty pool falls back to the saga; reconcile and destroy know pool apps;
the agent's bundle is pushed on provision, claim and update (and a failed push is retried); a claimed
unit Fly no longer has falls back to a cold provision."""

from __future__ import annotations

import base64
import hashlib
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.fly.config import INSTANCE_METADATA_KEY
from shared.lifecycle.names import POOL_METADATA_KEY, app_name, pool_app_name, pool_network_name
from tests.integration.lifecycle.conftest import settings_env

FILES = {"workspace/SOUL.md": b"You are a careful planner.\n", "agent.yaml": b"name: pooled\n"}


@pytest.fixture
def pool(lifecycle):
    """The lifecycle env with WARM_POOL_SIZE=1 (tests raise it with `size`); every unclaimed unit is
    deleted afterwards, so no other test can claim one."""
    from shared.lifecycle.warm_pool import drain_pool

    with settings_env({"WARM_POOL_SIZE": "1"}):
        try:
            yield lifecycle
        finally:
            lifecycle.drain()
            drain_pool()
    assert units(lifecycle.db, ("creating", "ready", "failed")) == []


def size(n: int) -> Any:
    return settings_env({"WARM_POOL_SIZE": str(n)})


def units(db: Any, statuses: tuple[str, ...] = ("ready",)) -> list[dict[str, Any]]:
    with db.service() as tx:
        return tx.sql("select *, status as state from warm_pool where status = any(%(s)s)"
                      " and fly_app = 'oa-pool-' || id::text order by created_at", {"s": list(statuses)}).fetchall()


def refill(env: Any) -> None:
    """Through the job, as the worker runs it."""
    from shared.lifecycle.warm_pool import defer_refill

    with env.db.service() as tx:
        defer_refill(tx)
    env.drain()


def fly_counts(env: Any) -> dict[str, int]:
    def look(s: Any) -> dict[str, int]:
        return {"apps": len(s.apps),
                "machines": sum(len(a.live_machines()) for a in s.apps.values()),
                "volumes": sum(1 for a in s.apps.values() for v in a.volumes.values()
                               if v.state not in ("destroyed", "destroying"))}

    return env.fly.call(look)


def machine(env: Any, machine_id: str) -> dict[str, Any]:
    def look(s: Any) -> dict[str, Any]:
        m = s.machines[machine_id]
        return {"state": m.state, "metadata": dict(m.metadata), "env": dict(m.config.get("env") or {}),
                "app": m.app.name, "network": m.app.network, "volumes": list(m.app.volumes)}

    return env.fly.call(look)


def secret(db: Any, secret_id: Any) -> str | None:
    with db.service() as tx:
        row = tx.sql("select decrypted_secret from vault.decrypted_secrets where id = %(i)s", {"i": secret_id}).fetchone()
    return row["decrypted_secret"] if row else None


def agent_with_bundle(db: Any, make_user: Any, files: dict[str, bytes] = FILES) -> tuple[str, str]:
    """A published agent whose current version has a bundle: (slug, version id)."""
    creator = make_user()
    slug = f"pooled-{uuid.uuid4().hex[:10]}"
    with db.service() as tx:
        agent = tx.sql("insert into agents (creator_id, slug, name, category, status, published_at)"
                       " values (%(c)s, %(s)s, 'Pooled', 'test', 'published', now()) returning id",
                       {"c": creator.id, "s": slug}).fetchone()["id"]
    return slug, publish(db, str(agent), creator.id, "1.0.0", files)


def publish(db: Any, agent_id: str, creator_id: str, version: str, files: dict[str, bytes]) -> str:
    import json

    bundle = {"files": {p: base64.b64encode(b).decode() for p, b in files.items()}, "signatures": {}}
    with db.service() as tx:
        vid = tx.sql("insert into agent_versions (agent_id, creator_id, version, openclaw_version, bundle, status,"
                     " published_at) values (%(a)s, %(c)s, %(v)s, '2026.9.6', %(b)s::jsonb, 'published', now())"
                     " returning id", {"a": agent_id, "c": creator_id, "v": version, "b": json.dumps(bundle)}).fetchone()["id"]
        tx.sql("update agents set current_version_id = %(v)s where id = %(a)s", {"v": vid, "a": agent_id})
    return str(vid)


def bridge_bundle(env: Any, row: dict[str, Any]) -> dict[str, Any]:
    """GET /v1/bundle on the instance's machine, through the bridge client (Fly's proxy)."""
    from shared.bridge.client import bridge_client
    from shared.bridge.target import MachineTarget

    token = secret(env.db, row["gateway_token_secret_id"])
    return bridge_client().bundle_state(MachineTarget(str(row.get("id") or ""), row["fly_app"], row["fly_machine_id"], token))


def pushed(instance_id: str, files: dict[str, bytes]) -> dict[str, str]:
    """What the machine holds of a version: its files, with the instance's prompt-injection canary
    planted in AGENTS.md (shared.security.canary)."""
    from shared.security import canary

    planted = canary.plant(instance_id, {p: base64.b64encode(b).decode() for p, b in files.items()})
    return sha({p: base64.b64decode(v) for p, v in planted.items()})


def sha(files: dict[str, bytes]) -> dict[str, str]:
    return {p: hashlib.sha256(b).hexdigest() for p, b in files.items()}


def refill_jobs(db: Any) -> list[dict[str, Any]]:
    with db.service() as tx:
        return tx.sql("select id, lock, queueing_lock from procrastinate.procrastinate_jobs"
                      " where task_name = 'refill_warm_pool' and status = 'todo'").fetchall()


# --- refill -----------------------------------------------------------------------------------------

def test_refill_makes_suspended_units_and_keeps_the_target(pool):
    with size(2):
        refill(pool)
        ready = units(pool.db)
        assert len(ready) == 2
        for u in ready:
            m = machine(pool, u["fly_machine_id"])
            assert m["state"] == "suspended" and m["app"] == pool_app_name(str(u["id"])) == u["fly_app"]
            assert m["network"] == pool_network_name(str(u["id"]))  # its own 6PN network
            assert m["volumes"] == [u["fly_volume_id"]] and u["region"] == "iad"
            assert m["metadata"][INSTANCE_METADATA_KEY] == f"pool-{u['id']}"
            assert m["metadata"][POOL_METADATA_KEY] == str(u["id"])
            assert m["env"]["GATEWAY_TOKEN"] == secret(pool.db, u["gateway_token_secret_id"])  # its own, in Vault
            assert u["image"] == "registry.fly.io/openagents-agent:test" and u["memory_mb"] == 2048
        before = fly_counts(pool)
        refill(pool)  # at target: nothing made
        assert [u["id"] for u in units(pool.db)] == [u["id"] for u in ready] and fly_counts(pool) == before

    refill(pool)  # target back to 1: the newest goes, resources and token with it
    left = units(pool.db)
    assert [u["id"] for u in left] == [ready[0]["id"]]
    assert fly_counts(pool)["apps"] == before["apps"] - 1
    assert pool.fly.call(lambda s: ready[1]["fly_app"] in s.apps) is False
    assert secret(pool.db, ready[1]["gateway_token_secret_id"]) is None


def test_refill_does_nothing_when_the_pool_is_off(lifecycle):
    from shared.lifecycle.warm_pool import enabled, refill

    before = fly_counts(lifecycle)
    result = refill()
    assert not enabled() and result.built == 0 and fly_counts(lifecycle) == before


# --- claim ------------------------------------------------------------------------------------------

def test_hire_claims_a_ready_unit_without_making_anything(pool, make_user):
    from shared.lifecycle.provision import provision

    refill(pool)
    [unit] = units(pool.db)
    slug, version = agent_with_bundle(pool.db, make_user)
    before = fly_counts(pool)
    user = make_user()
    iid = pool.hire(user, slug)["id"]
    assert provision(iid) == "running"  # the job's work, run here so its effects can be looked at first

    row = pool.row(iid)
    assert row["status"] == "running" and row["provision_stage"] == "ready"
    assert (row["fly_app"], row["fly_machine_id"], row["fly_volume_id"], row["region"]) == \
        (unit["fly_app"], unit["fly_machine_id"], unit["fly_volume_id"], unit["region"])
    assert row["gateway_token_secret_id"] == unit["gateway_token_secret_id"]
    assert fly_counts(pool) == before  # no app, volume or machine made at hire time
    assert pool.fly.call(lambda s: app_name(iid) in s.apps) is False
    m = machine(pool, unit["fly_machine_id"])
    assert m["state"] == "started" and m["metadata"][INSTANCE_METADATA_KEY] == iid  # reconcile can see whose
    with pool.db.service() as tx:
        claimed = tx.sql("select status, instance_id, claimed_at from warm_pool where id = %(u)s",
                         {"u": unit["id"]}).fetchone()
    assert claimed["status"] == "claimed" and str(claimed["instance_id"]) == iid and claimed["claimed_at"]
    assert [j["lock"] for j in refill_jobs(pool.db)] == ["warm-pool"]  # a refill was deferred

    got = bridge_bundle(pool, row)  # the agent's files reached the bridge, and the version is recorded
    assert got["version"] == version and got["files"] == pushed(iid, FILES)
    assert str(row["version_id"]) == version

    pool.drain()  # the provision job finds it running; the refill makes a new unit
    assert pool.row(iid)["status"] == "running"
    [fresh] = units(pool.db)
    assert fresh["id"] != unit["id"]
    assert pool.client.get(f"/api/instances/{iid}", token=user.token).get_json()["status"] == "running"


@pytest.mark.parametrize("lost", ["app", "machine"])
def test_a_claim_whose_unit_vanished_falls_back_to_a_cold_provision(pool, make_user, lost):
    """What a hire right after `make dev` restarted its emulator meets: a ready unit in the database
    that Fly no longer has. The claim lets it go (row and token) and the hire provisions from scratch."""
    from shared.lifecycle.config import fly_client

    refill(pool)
    [unit] = units(pool.db)
    with fly_client() as fly:
        if lost == "app":
            fly.delete_app(unit["fly_app"])
        else:
            fly.delete_machine(unit["fly_app"], unit["fly_machine_id"], force=True)
    slug, version = agent_with_bundle(pool.db, make_user)
    user = make_user()
    iid = pool.hire(user, slug)["id"]
    pool.drain(instance_ids=[iid])

    row = pool.row(iid)
    assert row["status"] == "running" and row["provision_stage"] == "ready", row
    assert row["fly_app"] == app_name(iid) and row["error_message"] is None
    assert row["gateway_token_secret_id"] != unit["gateway_token_secret_id"]
    assert bridge_bundle(pool, row)["version"] == version
    with pool.db.service() as tx:
        left = tx.sql("select count(*) as n from warm_pool where id = %(u)s", {"u": unit["id"]}).fetchone()["n"]
    assert left == 0 and secret(pool.db, unit["gateway_token_secret_id"]) is None
    assert pool.fly.call(lambda s: unit["fly_app"] in s.apps) is False  # nothing of it left behind
    assert pool.client.get(f"/api/instances/{iid}", token=user.token).get_json()["status"] == "running"


def test_concurrent_claims_never_share_a_unit(pool, make_user):
    from shared.lifecycle import store
    from shared.lifecycle.config import lifecycle_config
    from shared.lifecycle.warm_pool import claim

    with size(3):
        refill(pool)
        ready = {str(u["id"]) for u in units(pool.db)}
        assert len(ready) == 3
        ids = [pool.hire(make_user())["id"] for _ in range(8)]
        cfg = lifecycle_config()
        rows = [store.load(i) for i in ids]
        with ThreadPoolExecutor(8) as ex:
            got = list(ex.map(lambda r: claim(cfg, r), rows))
        won = [(i, g) for i, g in zip(ids, got, strict=True) if g is not None]
        assert len(won) == 3 and {g.unit_id for _, g in won} == ready  # each unit once, all taken
        assert claim(cfg, store.load(ids[0])) is None  # an instance claims at most once
        pool.drain(instance_ids=ids)
        for i in ids:
            row = pool.row(i)
            assert row["status"] == "running", row
        winners = {i for i, _ in won}
        assert {pool.row(i)["fly_app"] for i in winners} == {pool_app_name(u) for u in ready}
        assert all(pool.row(i)["fly_app"] == app_name(i) for i in ids if i not in winners)  # the saga's
        with pool.db.service() as tx:
            claimed = tx.sql("select instance_id from warm_pool where id = any(%(u)s::uuid[])",
                             {"u": list(ready)}).fetchall()
        assert {str(c["instance_id"]) for c in claimed} == winners


def test_concurrent_hires_through_the_queue(pool, make_user, app):
    from tests.support.harness import ApiClient

    with size(2):
        refill(pool)
        ready = {u["fly_app"] for u in units(pool.db)}

        def hire(_: int) -> str:
            resp = ApiClient(app).post("/api/instances", json_body={"agent": "daily-planner"}, token=make_user().token)
            assert resp.status_code == 202
            return resp.get_json()["id"]

        with ThreadPoolExecutor(4) as ex:
            ids = list(ex.map(hire, range(4)))
        pool.drain(concurrency=4)
        apps = [pool.row(i)["fly_app"] for i in ids]
        assert all(pool.row(i)["status"] == "running" for i in ids)
        assert sorted(a for a in apps if a in ready) == sorted(ready)  # both units, once each
        assert len(set(apps)) == 4
        assert len(units(pool.db)) == 2  # refilled


def test_empty_pool_falls_back_to_the_saga_and_pushes_the_bundle(pool, make_user):
    slug, version = agent_with_bundle(pool.db, make_user)
    assert units(pool.db, ("creating", "ready")) == []
    iid = pool.hire(make_user(), slug)["id"]
    pool.drain(instance_ids=[iid])
    row = pool.row(iid)
    assert row["status"] == "running" and row["fly_app"] == app_name(iid)
    assert refill_jobs(pool.db) == []  # nothing was claimed
    assert bridge_bundle(pool, row)["version"] == version and str(row["version_id"]) == version


def test_agent_with_another_memory_size_takes_the_saga(pool, make_user, db):
    refill(pool)
    [unit] = units(pool.db)
    slug, _ = agent_with_bundle(db, make_user)
    with db.service() as tx:
        tx.sql("update agents set memory_mb = 1024 where slug = %(s)s", {"s": slug})
    iid = pool.hire(make_user(), slug)["id"]
    pool.drain(instance_ids=[iid])
    assert pool.row(iid)["fly_app"] == app_name(iid)
    assert [u["id"] for u in units(pool.db)] == [unit["id"]]


def test_a_unit_built_before_a_signing_key_rotation_is_retired_and_rebuilt_with_the_new_key(pool, db):
    """A suspended unit's env holds the key list of its build: one missing a rotated-in key would
    refuse skills signed with it, so the refill replaces it."""
    import json

    refill(pool)
    [old] = units(pool.db)
    key_id = f"rot-{uuid.uuid4().hex[:12]}"
    public = base64.urlsafe_b64encode(hashlib.sha256(key_id.encode()).digest()).decode().rstrip("=")
    with db.service() as tx:
        tx.sql("insert into signing_keys (key_id, public_key, status, retired_at) values (%(k)s, %(p)s, 'retired', now())",
               {"k": key_id, "p": public})
    try:
        refill(pool)
        [new] = units(pool.db)
        assert new["id"] != old["id"]
        assert key_id in json.loads(machine(pool, new["fly_machine_id"])["env"]["SKILL_SIGNING_PUBLIC_KEYS"])
        assert pool.fly.call(lambda s: old["fly_app"] in s.apps) is False
        refill(pool)  # same key list: kept
        assert [u["id"] for u in units(pool.db)] == [new["id"]]
    finally:
        with db.service() as tx:
            tx.sql("delete from signing_keys where key_id = %(k)s", {"k": key_id})


# --- bundle push ------------------------------------------------------------------------------------

def test_failed_push_is_retried_and_a_refused_bundle_fails(pool, make_user):
    from shared.lifecycle.bundle import BundleNotPushed
    from shared.lifecycle.provision import provision

    refill(pool)
    [unit] = units(pool.db)
    flag = pool.volume_dir(unit["fly_volume_id"]) / "bundle-fails"
    flag.write_text("")
    slug, version = agent_with_bundle(pool.db, make_user)
    iid = pool.hire(make_user(), slug)["id"]
    with pytest.raises(BundleNotPushed):
        provision(iid)  # retryable: the job tries again
    row = pool.row(iid)
    assert row["status"] == "provisioning" and row["fly_app"] == unit["fly_app"]
    assert bridge_bundle(pool, row)["version"] is None
    flag.unlink()
    assert provision(iid) == "running"  # the retry resumes with the same unit
    row = pool.row(iid)
    assert row["fly_app"] == unit["fly_app"] and str(row["version_id"]) == version
    assert bridge_bundle(pool, row)["version"] == version
    pool.drain()

    [unit2] = units(pool.db)
    (pool.volume_dir(unit2["fly_volume_id"]) / "bundle-refused").write_text("")
    slug2, _ = agent_with_bundle(pool.db, make_user)
    iid2 = pool.hire(make_user(), slug2)["id"]
    assert provision(iid2) == "error"  # a refusal is not retried
    row2 = pool.row(iid2)
    assert "files were refused" in row2["error_message"]
    assert pool.fly.call(lambda s: unit2["fly_app"] in s.apps) is False  # cleaned up like any failed saga


def test_update_pushes_the_new_version(pool, make_user, db):
    from shared.lifecycle.update import update

    slug, v1 = agent_with_bundle(db, make_user)
    iid = pool.hire(make_user(), slug)["id"]
    pool.drain(instance_ids=[iid])
    with db.service() as tx:
        agent = tx.sql("select id, creator_id from agents where slug = %(s)s", {"s": slug}).fetchone()
    files2 = {**FILES, "workspace/SOUL.md": b"You are a bolder planner.\n"}
    v2 = publish(db, str(agent["id"]), str(agent["creator_id"]), "1.1.0", files2)
    assert update(iid, version_id=v2) == "updated"
    row = pool.row(iid)
    assert str(row["version_id"]) == v2 and bridge_bundle(pool, row)["files"] == pushed(iid, files2)


# --- reconcile and destroy ---------------------------------------------------------------------------

def test_reconcile_leaves_pool_units_alone_and_knows_claimed_ones(pool, make_user):
    from shared.lifecycle.config import fly_client
    from shared.lifecycle.provision import provision
    from shared.lifecycle.reconcile import reconcile

    with size(2):
        refill(pool)
    first, second = units(pool.db)
    iid = pool.hire(make_user())["id"]
    assert provision(iid) == "running"
    claimed = pool.row(iid)
    assert claimed["fly_app"] == first["fly_app"]
    stray = pool_app_name(str(uuid.uuid4()))  # a pool app no row knows: an orphan
    with fly_client() as fly:
        fly.create_app(stray)

    result = reconcile()
    assert pool.fly.call(lambda s: stray in s.apps) is False and result.orphan_apps_deleted >= 1
    assert [u["id"] for u in units(pool.db)] == [second["id"]]  # the ready unit is untouched
    assert machine(pool, second["fly_machine_id"])["state"] == "suspended"
    row = pool.row(iid)  # the claimed unit is the instance's, nothing repaired away
    assert row["status"] == "running" and row["fly_machine_id"] == claimed["fly_machine_id"]
    assert machine(pool, claimed["fly_machine_id"])["state"] == "started"

    # A machine gone from a claimed unit's app is the instance's problem, as with any app.
    with fly_client() as fly:
        fly.delete_machine(claimed["fly_app"], claimed["fly_machine_id"], force=True)
    reconcile()
    assert pool.row(iid)["status"] == "error"


def test_destroy_of_a_claimed_instance_removes_its_unit(pool, make_user):
    refill(pool)
    [unit] = units(pool.db)
    user = make_user()
    iid = pool.hire(user)["id"]
    pool.drain(instance_ids=[iid])
    assert pool.row(iid)["fly_app"] == unit["fly_app"]
    pool.action(user, iid, "destroy")
    pool.drain(instance_ids=[iid])
    row = pool.row(iid)
    assert row["status"] == "destroyed"
    assert pool.fly.call(lambda s: unit["fly_app"] in s.apps) is False
    assert secret(pool.db, unit["gateway_token_secret_id"]) is None


# --- warm-up ----------------------------------------------------------------------------------------

def test_a_unit_is_warmed_up_through_its_real_bridge_before_it_is_suspended(db, tmp_path, caplog):
    """The real bridge (offline runtime) behind the SSE gateway: the build's warm-up turn runs to `done`
    in a session of its own before the suspend."""
    from shared.config import overridden
    from shared.lifecycle.warm_pool import drain_pool
    from shared.lifecycle.warm_pool import refill as refill_now
    from tests.integration.chat.conftest import start_chat_stack

    caplog.set_level("INFO", logger="openagents.lifecycle.warm_pool")
    stack, stop = start_chat_stack(tmp_path)
    try:
        with overridden({**stack.env, "WARM_POOL_SIZE": "1"}):
            try:
                result = refill_now()
                assert result.built == 1, result
                [unit] = units(db)
                warmed = [r for r in caplog.records if r.getMessage() == "warm-pool unit warmed up"]
                assert [(r.fields["unit_id"], r.fields["outcome"]) for r in warmed] == [(str(unit["id"]), "done")]
                assert warmed[0].fields["tokens"] == 1  # TOKENS=1: the offline runtime's cheapest answer
                assert warmed[0].fields["settled_s"] == 0  # nothing deferred to wait for (OpenClaw's is)
                assert stack.fly.call(lambda s: s.machines[unit["fly_machine_id"]].state) == "suspended"
            finally:
                drain_pool()
    finally:
        stop()
