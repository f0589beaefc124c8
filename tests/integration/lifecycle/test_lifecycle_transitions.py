"""Every transition through the API and its job, legal and illegal; ownership; rename; listing."""

from __future__ import annotations

import uuid

import pytest

from shared.lifecycle.states import ACTION_TRANSITIONS, ACTIONS, STATUSES
from tests.support.harness import assert_problem


def _provisioned(lifecycle, user, slug="inbox-zero"):
    body = lifecycle.hire(user, slug)
    lifecycle.drain(instance_ids=[body["id"]])
    row = lifecycle.row(body["id"])
    assert row["status"] == "running", row
    return body["id"], row["fly_machine_id"]


def _status(lifecycle, user, iid):
    return lifecycle.client.get(f"/api/instances/{iid}", token=user.token).get_json()["status"]


def test_legal_transitions_move_the_machine(lifecycle, make_user):
    user = make_user()
    iid, machine = _provisioned(lifecycle, user)
    steps = [  # (action, status after, Fly state after)
        ("suspend", "suspended", "suspended"),
        ("start", "running", "started"),
        ("stop", "stopped", "stopped"),
        ("start", "running", "started"),
        ("restart", "running", "started"),
        ("suspend", "suspended", "suspended"),
        ("stop", "stopped", "stopped"),
    ]
    for action, status, fly_state in steps:
        answered = lifecycle.action(user, iid, action)
        assert answered["id"] == iid
        lifecycle.drain(instance_ids=[iid])
        assert _status(lifecycle, user, iid) == status, action
        assert lifecycle.machine_state(machine) == fly_state, action
    events = lifecycle.fly.call(lambda s: [e["type"] for e in s.machines[machine].events])
    assert "restart" in events


def test_action_matrix_legal_202_illegal_409(lifecycle, make_user, db):
    """For each status, every action: 202 (and a job) when allowed from it, else a 409 problem."""
    user = make_user()
    with db.service() as tx:
        agents = [r["id"] for r in tx.sql("select id from agents where status = 'published' order by slug limit 7")]
        ids = {}
        for status, agent in zip(STATUSES, agents, strict=True):
            ids[status] = str(tx.sql("insert into agent_instances (user_id, agent_id, status) values (%(u)s, %(a)s, %(s)s)"
                                     " returning id", {"u": user.id, "a": agent, "s": status}).fetchone()["id"])
    try:
        for status, iid in ids.items():
            for action in ACTIONS:
                legal = ACTION_TRANSITIONS[action].permits(status) or (action == "destroy" and status == "destroying")
                if action == "destroy":
                    resp = lifecycle.client.delete(f"/api/instances/{iid}", token=user.token)
                else:
                    resp = lifecycle.client.post(f"/api/instances/{iid}/{action}", token=user.token)
                if legal:
                    assert resp.status_code == 202, (status, action, resp.get_data(as_text=True))
                else:
                    problem = assert_problem(resp, 409)
                    assert problem["type"].endswith("/illegal-transition") and status in problem["detail"], problem
                    assert problem["action"] == action
                with db.service() as tx:  # legal ones left their job; the illegal ones left none
                    tx.sql("update agent_instances set status = %(s)s where id = %(i)s", {"s": status, "i": iid})
            with db.service() as tx:
                jobs = {r["task_name"] for r in tx.sql(
                    "select task_name from procrastinate.procrastinate_jobs where lock = %(l)s", {"l": f"instance:{iid}"})}
            expected = {f"{a}_instance" for a in ACTIONS
                        if ACTION_TRANSITIONS[a].permits(status) or (a == "destroy" and status == "destroying")}
            assert jobs == expected, (status, jobs)
    finally:
        with db.service() as tx:
            tx.sql("delete from procrastinate.procrastinate_jobs where lock = any(%(l)s)",
                   {"l": [f"instance:{i}" for i in ids.values()]})
            tx.sql("update agent_instances set status = 'destroyed' where id = any(%(i)s::uuid[])", {"i": list(ids.values())})


def test_jobs_recheck_the_transition_when_they_run(lifecycle, make_user):
    """Two stops asked at once: the second finds the instance already stopped and changes nothing."""
    user = make_user()
    iid, machine = _provisioned(lifecycle, user)
    lifecycle.action(user, iid, "suspend")
    lifecycle.action(user, iid, "stop")  # legal now (running); by the time it runs the instance is suspended
    lifecycle.action(user, iid, "suspend")  # legal now; when its turn comes the instance is stopped: skipped
    lifecycle.drain(instance_ids=[iid])
    assert _status(lifecycle, user, iid) == "stopped"
    assert lifecycle.machine_state(machine) == "stopped"


def test_destroy_keeps_sessions_and_frees_everything(lifecycle, make_user, db):
    user = make_user()
    iid, machine = _provisioned(lifecycle, user)
    row = lifecycle.row(iid)
    with db.service() as tx:
        session = tx.sql("insert into sessions (user_id, instance_id, title) values (%(u)s, %(i)s, 'kept')"
                         " returning id", {"u": user.id, "i": iid}).fetchone()["id"]
    body = lifecycle.action(user, iid, "destroy")
    assert body["status"] == "destroying"
    lifecycle.action(user, iid, "destroy")  # asking twice is harmless
    lifecycle.drain(instance_ids=[iid])
    got = lifecycle.client.get(f"/api/instances/{iid}", token=user.token).get_json()
    assert got["status"] == "destroyed" and got["destroyed_at"]
    assert lifecycle.fly_resources(iid) == {"app": False, "machines": [], "volumes": []}
    with db.service() as tx:
        assert tx.sql("select count(*) as n from sessions where id = %(s)s", {"s": session}).fetchone()["n"] == 1
        assert tx.sql("select count(*) as n from vault.secrets where id = %(s)s",
                      {"s": row["gateway_token_secret_id"]}).fetchone()["n"] == 0
    for action in ("start", "stop", "suspend", "restart", "destroy"):
        lifecycle.action(user, iid, action, expect=409)
    listed = lifecycle.client.get("/api/instances", token=user.token).get_json()
    assert iid not in [i["id"] for i in listed["items"]]
    listed = lifecycle.client.get("/api/instances?include_destroyed=true", token=user.token).get_json()
    assert iid in [i["id"] for i in listed["items"]]
    again = lifecycle.hire(user)  # the agent can be hired again: a new instance
    assert again["id"] != iid
    lifecycle.drain(instance_ids=[again["id"]])


def test_destroy_while_provisioning(lifecycle, make_user):
    user = make_user()
    body = lifecycle.hire(user, "paper-digest")
    lifecycle.action(user, body["id"], "destroy")
    lifecycle.drain(instance_ids=[body["id"]])
    assert lifecycle.row(body["id"])["status"] == "destroyed"
    assert lifecycle.fly_resources(body["id"])["app"] is False


def test_other_users_instances_are_404(lifecycle, make_user):
    owner, other = make_user(), make_user()
    body = lifecycle.hire(owner, "fact-checker")
    iid = body["id"]
    c = lifecycle.client
    assert_problem(c.get(f"/api/instances/{iid}", token=other.token), 404)
    assert_problem(c.patch(f"/api/instances/{iid}", json_body={"display_name": "x"}, token=other.token), 404)
    assert_problem(c.delete(f"/api/instances/{iid}", token=other.token), 404)
    for action in ("start", "stop", "suspend", "restart"):
        assert_problem(c.post(f"/api/instances/{iid}/{action}", token=other.token), 404)
    assert_problem(c.get("/api/instances/not-a-uuid", token=owner.token), 404)
    assert_problem(c.post("/api/instances/not-a-uuid/start", token=owner.token), 404)
    assert_problem(c.get(f"/api/instances/{uuid.uuid4()}", token=owner.token), 404)
    assert [i["id"] for i in c.get("/api/instances", token=other.token).get_json()["items"]] == []
    assert lifecycle.row(iid)["status"] == "provisioning"
    lifecycle.drain(instance_ids=[iid])


def test_patch_renames_and_sets_the_model(lifecycle, make_user):
    user = make_user()
    iid = lifecycle.hire(user, "code-reviewer")["id"]
    c = lifecycle.client
    got = c.patch(f"/api/instances/{iid}", json_body={"display_name": "Reviewer", "model_preference": "gpt-x"},
                  token=user.token).get_json()
    assert got["display_name"] == "Reviewer" and got["model_preference"] == "gpt-x"
    got = c.patch(f"/api/instances/{iid}", json_body={"model_preference": None}, token=user.token).get_json()
    assert got["display_name"] == "Reviewer" and got["model_preference"] is None
    assert_problem(c.patch(f"/api/instances/{iid}", json_body={"status": "running"}, token=user.token), 422)
    lifecycle.drain(instance_ids=[iid])


def test_list_pages_newest_first(lifecycle, make_user):
    user = make_user()
    ids = [lifecycle.hire(user, slug)["id"] for slug in ("sql-helper", "bug-hunter", "shell-sage")]
    c = lifecycle.client
    first = c.get("/api/instances?limit=2", token=user.token).get_json()
    assert [i["id"] for i in first["items"]] == ids[::-1][:2] and first["next_cursor"]
    second = c.get(f"/api/instances?limit=2&cursor={first['next_cursor']}", token=user.token).get_json()
    assert [i["id"] for i in second["items"]] == [ids[0]] and second["next_cursor"] is None
    assert_problem(c.get("/api/instances?cursor=bogus", token=user.token), 400)
    lifecycle.drain(instance_ids=ids)


@pytest.mark.parametrize("action", ["start", "suspend"])
def test_illegal_while_provisioning(lifecycle, make_user, action):
    user = make_user()
    iid = lifecycle.hire(user, "blog-writer")["id"]
    lifecycle.action(user, iid, action, expect=409)
    lifecycle.drain(instance_ids=[iid])
