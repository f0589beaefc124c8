"""A published version reaches the agent's instances through the update job in stages, on the Fly
emulator with the lifecycle tests' machines (tests/support/lifecycle_machine.py, which record the
bundle they were sent): the first stage updates ROLLOUT_FIRST_STAGE_PERCENT of the instances (here 1 of
9), the rest follow once it succeeded; a pinned instance stays where it is; a busy one waits for its
turn to end; a failed first stage halts the rollout; the pin always wins; machines get every signing
key; an archived agent's instances keep working.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devstack.emulators.fly import FlyEmulator
from tests.integration.lifecycle.conftest import (
    FLY_TOKEN,
    MACHINE,
    Lifecycle,
    _lifecycle,
    pending_jobs,
    register_tokens,
    settings_env,
)
from tests.support.harness import RECORDER, assert_problem
from tests.support.platform_bundles import agent_files, slug, upload


@pytest.fixture(scope="module")
def fly_rollout() -> Iterator[FlyEmulator]:
    # The module's own emulator: its machines go when the module is done.
    with FlyEmulator(mode="process", machine_command=[sys.executable, "-u", str(MACHINE)], token=FLY_TOKEN,
                     seed=13, autostart_timeout_s=10) as fly:
        yield fly


@pytest.fixture
def env(fly_rollout: FlyEmulator, db: Any, app: Any, signing_key: str) -> Iterator[Lifecycle]:
    with _lifecycle(fly_rollout, db, app) as lifecycle, settings_env({"ROLLOUT_POLL_S": "0.2"}):
        yield lifecycle


# --- helpers ---------------------------------------------------------------------------------------

def _publish(env: Lifecycle, creator: Any, agent_slug: str, version: str, soul: str) -> str:
    files = agent_files(agent_slug, version=version, extra={"workspace/SOUL.md": soul})
    path = "/api/platform/agents" if version == "1.0.0" else f"/api/platform/agents/{agent_slug}/versions"
    resp = upload(env.client, creator, files, path=path)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    result = env.client.post(f"/api/platform/agents/{agent_slug}/submit", token=creator.token).get_json()
    assert result["status"] == "published", result
    return str(result["version_id"])


def _run_jobs(env: Lifecycle) -> None:
    """The lifecycle queue's due jobs, once (periodic tasks set aside), like Lifecycle.drain's inner step."""
    from jobs.app import app

    app.perform_import_paths()
    periodic = dict(app.periodic_registry.periodic_tasks)
    app.periodic_registry.periodic_tasks.clear()
    try:
        app.run_worker(wait=False, install_signal_handlers=False, queues=["lifecycle"], concurrency=4,
                       listen_notify=False)
    finally:
        app.periodic_registry.periodic_tasks.update(periodic)
        register_tokens(env.db)


def _run_until(env: Lifecycle, done: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        _run_jobs(env)
        value = done()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {pending_jobs(env.db)}"
        time.sleep(0.05)


def _versions(env: Lifecycle, ids: list[str]) -> dict[str, str]:
    with env.db.service() as tx:
        rows = tx.sql("select id, version_id from agent_instances where id = any(%(i)s::uuid[])", {"i": ids}).fetchall()
    return {str(r["id"]): str(r["version_id"]) for r in rows}


def _on(env: Lifecycle, ids: list[str], version_id: str) -> list[str]:
    return sorted(i for i, v in _versions(env, ids).items() if v == version_id)


def _pushed(env: Lifecycle, instance_id: str) -> dict[str, Any]:
    """What the instance's machine last received (the lifecycle machine's record of PUT /v1/bundle)."""
    row = env.row(instance_id)
    return json.loads((env.volume_dir(row["fly_volume_id"]) / ".bundle.json").read_text())


def _rollout(env: Lifecycle, creator: Any, agent_slug: str, version_id: str) -> dict[str, Any]:
    mine = env.client.get(f"/api/platform/agents/{agent_slug}", token=creator.token).get_json()
    return next(v for v in mine["versions"] if v["id"] == version_id)


def _jobs_due_now(env: Lifecycle, where: str, params: dict[str, Any]) -> None:
    with env.db.service() as tx:
        tx.sql("update procrastinate.procrastinate_jobs set scheduled_at = now() where status = 'todo' and " + where,
               params)


def _hire_all(env: Lifecycle, users: list[Any], agent_slug: str) -> list[str]:
    ids = [env.hire(u, agent_slug)["id"] for u in users]
    env.drain(instance_ids=ids, timeout=180)
    assert all(env.row(i)["status"] == "running" for i in ids)
    return ids


# --- the rollout -----------------------------------------------------------------------------------

def test_a_version_rolls_out_in_stages_around_pins_and_busy_instances(env: Lifecycle, make_user: Any,
                                                                      db: Any) -> None:
    creator = make_user("creator")
    s = slug()
    v1 = _publish(env, creator, s, "1.0.0", "You plan carefully.\n")
    users = [make_user() for _ in range(10)]
    ids = _hire_all(env, users, s)
    assert _on(env, ids, v1) == sorted(ids) and _pushed(env, ids[0])["version"] == v1

    pinned, busy = ids[0], ids[1]
    pin = env.client.patch(f"/api/instances/{pinned}", json_body={"version_pin": v1}, token=users[0].token)
    assert pin.status_code == 200 and pin.get_json()["version_pin"] == v1
    assert pending_jobs(db, [pinned]) == []  # already on its pin: nothing to do
    with db.service() as tx:
        session = tx.sql("insert into sessions (user_id, instance_id) values (%(u)s, %(i)s) returning id",
                         {"u": users[1].id, "i": busy}).fetchone()["id"]
        turn = tx.sql("insert into turns (session_id, user_id, instance_id, client_message_id, status)"
                      " values (%(s)s, %(u)s, %(i)s, 'busy-1', 'streaming') returning id",
                      {"s": session, "u": users[1].id, "i": busy}).fetchone()["id"]

    # Stage 1: 10% of the 9 unpinned instances, at least one — never the busy one while others are idle.
    with settings_env({"ROLLOUT_POLL_S": "600"}):  # the stage stays put until the test moves it on
        v2 = _publish(env, creator, s, "1.1.0", "You plan boldly.\n")
        first = _run_until(env, lambda: _on(env, ids, v2), "the first stage")
        time.sleep(0.3)
        _run_jobs(env)
    assert len(first) == 1 and first[0] not in (pinned, busy)
    assert _pushed(env, first[0])["version"] == v2
    assert len(_on(env, ids, v1)) == 9
    shown = _rollout(env, creator, s, v2)
    assert shown["status"] == "published" and shown["instances"] == 1
    assert shown["rollout"]["status"] == "rolling" and shown["rollout"]["stage"] == 1
    assert shown["rollout"]["first_stage_percent"] == 10
    assert shown["rollout"]["stages"] == [{"stage": 1, "instances": 1, "updated": 1, "pending": 0, "failed": 0,
                                           "skipped": 0}]

    # Stage 2: everyone else but the pinned one; the busy one waits for its turn.
    _jobs_due_now(env, "task_name = 'rollout_version'", {})
    others = sorted(set(ids) - {pinned, busy})
    _run_until(env, lambda: _on(env, ids, v2) == others, "the second stage")
    waiting = pending_jobs(db, [busy])
    assert [j["task_name"] for j in waiting] == ["update_instance"] and waiting[0]["scheduled_at"] is not None
    shown = _rollout(env, creator, s, v2)["rollout"]
    assert shown["status"] == "rolling" and shown["stage"] == 2
    assert shown["stages"][1] == {"stage": 2, "instances": 8, "updated": 7, "pending": 1, "failed": 0, "skipped": 0}

    with db.service() as tx:
        tx.sql("update turns set status = 'done' where id = %(t)s", {"t": turn})
    _jobs_due_now(env, "lock = %(l)s", {"l": f"instance:{busy}"})
    _run_until(env, lambda: _rollout(env, creator, s, v2)["rollout"]["status"] == "done", "the rollout's end")
    assert _on(env, ids, v2) == sorted(set(ids) - {pinned}) and _on(env, ids, v1) == [pinned]
    assert _pushed(env, busy)["version"] == v2 and _pushed(env, pinned)["version"] == v1
    final = _rollout(env, creator, s, v2)
    assert final["instances"] == 9 and final["rollout"]["finished_at"]
    assert [(st["stage"], st["instances"], st["updated"]) for st in final["rollout"]["stages"]] == [(1, 1, 1), (2, 8, 8)]
    env.drain(instance_ids=ids)

    # A rotation: the key that signed v1 and v2 is retired; machines updated from now on get it too.
    from shared.platform import signing

    with db.service() as tx:
        signed_with = str(tx.sql("select key_id from signing_keys where status = 'active'").fetchone()["key_id"])
        _, new_key = signing.rotate(tx)
    RECORDER.secret(new_key)

    # The pin wins both ways: unpinning follows the current version, pinning goes back.
    back = ids[2]
    env.client.patch(f"/api/instances/{pinned}", json_body={"version_pin": None}, token=users[0].token)
    env.client.patch(f"/api/instances/{back}", json_body={"version_pin": v1}, token=users[2].token)
    env.drain(instance_ids=[pinned, back])
    assert _versions(env, [pinned, back]) == {pinned: v2, back: v1}
    assert _pushed(env, back)["version"] == v1

    # Every registered key (active and retired) is in the machines' config after an update.
    with db.service() as tx:
        registered = {r["key_id"] for r in tx.sql("select key_id, public_key from signing_keys").fetchall()
                      if len(r["public_key"]) == 43}  # other tests plant rows that are not keys
    machine = env.row(back)["fly_machine_id"]
    keys = json.loads(env.fly.call(lambda st: st.machines[machine].config["env"]["SKILL_SIGNING_PUBLIC_KEYS"]))
    assert registered <= set(keys) and signed_with in keys


def test_pins_must_be_published_versions_of_the_same_agent(env: Lifecycle, make_user: Any, db: Any) -> None:
    creator = make_user("creator")
    s, other = slug(), slug()
    v1 = _publish(env, creator, s, "1.0.0", "One.\n")
    foreign = _publish(env, creator, other, "1.0.0", "Other.\n")
    assert upload(env.client, creator, agent_files(s, version="1.1.0"),
                  path=f"/api/platform/agents/{s}/versions").status_code == 201
    with db.service() as tx:
        draft = str(tx.sql("select id from agent_versions where version = '1.1.0' and agent_id ="
                           " (select id from agents where slug = %(s)s)", {"s": s}).fetchone()["id"])
    user = make_user()
    [iid] = _hire_all(env, [user], s)
    for bad in (foreign, draft, "00000000-0000-4000-8000-000000000123"):
        body = assert_problem(env.client.patch(f"/api/instances/{iid}", json_body={"version_pin": bad},
                                               token=user.token), 422)
        assert body["type"].endswith("/invalid-version-pin")
    assert env.client.patch(f"/api/instances/{iid}", json_body={"version_pin": v1},
                            token=make_user().token).status_code == 404
    assert env.row(iid)["version_pin"] is None
    assert env.client.patch(f"/api/instances/{iid}", json_body={"version_pin": "not-a-uuid"},
                            token=user.token).status_code == 422


def test_a_failed_first_stage_halts_the_rollout(env: Lifecycle, make_user: Any, db: Any) -> None:
    creator = make_user("creator")
    s = slug()
    v1 = _publish(env, creator, s, "1.0.0", "Steady.\n")
    ids = _hire_all(env, [make_user() for _ in range(3)], s)
    canary = ids[2]
    with db.service() as tx:  # the least recently active goes first
        tx.sql("update agent_instances set last_active_at = now() - interval '1 day' where id = %(i)s", {"i": canary})
    (env.volume_dir(env.row(canary)["fly_volume_id"]) / "bundle-refused").write_text("")

    v2 = _publish(env, creator, s, "2.0.0", "Broken.\n")
    _run_until(env, lambda: _rollout(env, creator, s, v2)["rollout"]["status"] != "rolling", "the halt")
    rollout = _rollout(env, creator, s, v2)["rollout"]
    assert rollout["status"] == "halted" and "first-stage updates failed" in rollout["detail"]
    assert rollout["stages"] == [{"stage": 1, "instances": 1, "updated": 0, "pending": 0, "failed": 1, "skipped": 0}]
    assert _on(env, ids, v1) == sorted(ids)  # nobody else got the version
    notes = env.client.get("/api/notifications", token=creator.token).get_json()["items"]
    assert any(n["kind"] == "rollout.halted" for n in notes)


def test_an_archived_agents_instances_keep_working(env: Lifecycle, make_user: Any) -> None:
    creator = make_user("creator")
    s = slug()
    _publish(env, creator, s, "1.0.0", "Archived soon.\n")
    user = make_user()
    [iid] = _hire_all(env, [user], s)
    assert env.client.post(f"/api/platform/agents/{s}/archive", token=creator.token).status_code == 200
    assert env.client.get(f"/api/agents/{s}").status_code == 404
    assert env.client.get(f"/api/instances/{iid}", token=user.token).get_json()["status"] == "running"
    env.action(user, iid, "stop")
    env.drain(instance_ids=[iid])
    assert env.row(iid)["status"] == "stopped"
    env.action(user, iid, "start")
    env.drain(instance_ids=[iid])
    assert env.row(iid)["status"] == "running"
