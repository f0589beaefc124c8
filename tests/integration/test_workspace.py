"""The workspace through HTTP: projects and teams are their owner's alone (404 to anyone else), a team
holds only its owner's instances, deleting a project keeps the instances, and the home page."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.harness import assert_problem
from tests.support.listings import ListingSpec, hire, new_creator, notify, publish, session, token


@pytest.fixture
def agents(db: Any) -> list[Any]:
    creator = new_creator(db)
    return [publish(db, creator, ListingSpec(f"Worker {i}", f"c{token()}")) for i in range(3)]


def _project(client: Any, user: Any, name: str = "Side business") -> dict[str, Any]:
    resp = client.post("/api/projects", token=user.token, json_body={"name": name, "description": "The shop"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()


def _team(client: Any, user: Any, project_id: str, name: str = "Support") -> dict[str, Any]:
    resp = client.post(f"/api/projects/{project_id}/teams", token=user.token, json_body={"name": name})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()


def test_projects_crud(client: Any, make_user: Any) -> None:
    u = make_user()
    assert client.get("/api/projects", token=u.token).get_json() == {"items": [], "next_cursor": None}
    assert_problem(client.get("/api/projects"), 401)
    assert_problem(client.post("/api/projects", token=u.token, json_body={"name": ""}), 422)
    p = _project(client, u)
    assert (p["name"], p["description"], p["teams_count"]) == ("Side business", "The shop", 0)
    second = _project(client, u, "Personal")
    listed = client.get("/api/projects", token=u.token, query={"limit": 1}).get_json()
    assert [x["id"] for x in listed["items"]] == [second["id"]]  # newest first
    rest = client.get("/api/projects", token=u.token, query={"limit": 1, "cursor": listed["next_cursor"]}).get_json()
    assert [x["id"] for x in rest["items"]] == [p["id"]] and rest["next_cursor"] is None

    patched = client.patch(f"/api/projects/{p['id']}", token=u.token, json_body={"name": "Shop"}).get_json()
    assert (patched["name"], patched["description"]) == ("Shop", "The shop")
    _team(client, u, p["id"])
    detail = client.get(f"/api/projects/{p['id']}", token=u.token).get_json()
    assert detail["teams_count"] == 1 and [t["name"] for t in detail["teams"]] == ["Support"]
    assert client.delete(f"/api/projects/{p['id']}", token=u.token).status_code == 204
    assert_problem(client.get(f"/api/projects/{p['id']}", token=u.token), 404)
    assert_problem(client.get("/api/projects/not-a-uuid", token=u.token), 404)


def test_another_users_projects_and_teams_are_not_found(client: Any, db: Any, make_user: Any,
                                                        agents: list[Any]) -> None:
    owner, other = make_user(), make_user()
    p = _project(client, owner)
    team = _team(client, owner, p["id"])
    mine = hire(db, other.id, agents[0].id)
    tok = other.token
    assert client.get("/api/projects", token=tok).get_json()["items"] == []
    assert_problem(client.get(f"/api/projects/{p['id']}", token=tok), 404)
    assert_problem(client.patch(f"/api/projects/{p['id']}", token=tok, json_body={"name": "Mine"}), 404)
    assert_problem(client.delete(f"/api/projects/{p['id']}", token=tok), 404)
    assert_problem(client.get(f"/api/projects/{p['id']}/teams", token=tok), 404)
    assert_problem(client.post(f"/api/projects/{p['id']}/teams", token=tok, json_body={"name": "Sneaky"}), 404)
    assert_problem(client.get(f"/api/teams/{team['id']}", token=tok), 404)
    assert_problem(client.patch(f"/api/teams/{team['id']}", token=tok, json_body={"name": "Mine"}), 404)
    assert_problem(client.delete(f"/api/teams/{team['id']}", token=tok), 404)
    assert_problem(client.put(f"/api/teams/{team['id']}/instances/{mine}", token=tok), 404)
    assert_problem(client.delete(f"/api/teams/{team['id']}/instances/{mine}", token=tok), 404)
    assert_problem(client.get(f"/api/projects/{uuid.uuid4()}", token=tok), 404)
    # Nothing changed for the owner.
    again = client.get(f"/api/projects/{p['id']}", token=owner.token).get_json()
    assert again["name"] == "Side business" and [t["name"] for t in again["teams"]] == ["Support"]
    assert again["teams"][0]["instances"] == []


def test_a_team_holds_only_its_owners_instances(client: Any, db: Any, make_user: Any, agents: list[Any]) -> None:
    owner, other = make_user(), make_user()
    p = _project(client, owner)
    team = _team(client, owner, p["id"])
    a = hire(db, owner.id, agents[0].id)
    b = hire(db, owner.id, agents[1].id, status="suspended")
    theirs = hire(db, other.id, agents[2].id)
    gone = hire(db, owner.id, agents[2].id, status="destroyed")
    url = f"/api/teams/{team['id']}/instances"

    resp = client.put(f"{url}/{a}", token=owner.token)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert [i["id"] for i in resp.get_json()["instances"]] == [a]
    assert client.put(f"{url}/{a}", token=owner.token).status_code == 200  # again: no change
    body = client.put(f"{url}/{b}", token=owner.token).get_json()
    assert [(i["id"], i["status"], i["agent_name"]) for i in body["instances"]] == [
        (a, "running", "Worker 0"), (b, "suspended", "Worker 1")]
    assert_problem(client.put(f"{url}/{theirs}", token=owner.token), 404)  # another user's instance
    assert_problem(client.put(f"{url}/{uuid.uuid4()}", token=owner.token), 404)
    assert_problem(client.put(f"{url}/{gone}", token=owner.token), 409)
    with db.service() as tx:  # and the schema agrees, whoever writes
        members = tx.sql("select ta.instance_id::text as id, i.user_id::text as uid from team_agents ta"
                         " join agent_instances i on i.id = ta.instance_id where ta.team_id = %(t)s",
                         {"t": team["id"]}).fetchall()
    assert {m["id"] for m in members} == {a, b} and {m["uid"] for m in members} == {owner.id}

    listed = client.get(f"/api/projects/{p['id']}/teams", token=owner.token).get_json()
    assert [len(t["instances"]) for t in listed["items"]] == [2]
    assert client.delete(f"{url}/{a}", token=owner.token).status_code == 204
    assert client.delete(f"{url}/{a}", token=owner.token).status_code == 204  # idempotent
    assert [i["id"] for i in client.get(f"/api/teams/{team['id']}", token=owner.token).get_json()["instances"]] == [b]
    assert_problem(client.delete(f"{url}/{theirs}", token=owner.token), 404)


def test_deleting_a_project_keeps_its_instances(client: Any, db: Any, make_user: Any, agents: list[Any]) -> None:
    u = make_user()
    p = _project(client, u)
    teams = [_team(client, u, p["id"], name) for name in ("One", "Two")]
    inst = hire(db, u.id, agents[0].id)
    for t in teams:
        assert client.put(f"/api/teams/{t['id']}/instances/{inst}", token=u.token).status_code == 200
    assert client.delete(f"/api/projects/{p['id']}", token=u.token).status_code == 204
    for t in teams:
        assert_problem(client.get(f"/api/teams/{t['id']}", token=u.token), 404)
    kept = client.get(f"/api/instances/{inst}", token=u.token)
    assert kept.status_code == 200 and kept.get_json()["status"] == "running"
    with db.service() as tx:
        left = tx.sql("select count(*) as n from team_agents where instance_id = %(i)s", {"i": inst}).fetchone()["n"]
    assert left == 0
    # Deleting a team keeps them too.
    p2 = _project(client, u)
    t2 = _team(client, u, p2["id"])
    client.put(f"/api/teams/{t2['id']}/instances/{inst}", token=u.token)
    assert client.delete(f"/api/teams/{t2['id']}", token=u.token).status_code == 204
    assert client.get(f"/api/instances/{inst}", token=u.token).status_code == 200


def test_home(client: Any, db: Any, make_user: Any, agents: list[Any]) -> None:
    u, other = make_user(), make_user()
    running = hire(db, u.id, agents[0].id, last_active_minutes=1)
    suspended = hire(db, u.id, agents[1].id, status="suspended", last_active_minutes=30)
    hire(db, u.id, agents[2].id, status="destroyed")
    hire(db, other.id, agents[0].id)
    s_old = session(db, u.id, running, "Old chat", minutes_ago=60)
    s_new = session(db, u.id, suspended, "New chat", minutes_ago=2)
    notify(db, u.id, "Unread one")
    notify(db, u.id, "Read one", read=True)
    notify(db, other.id, "Not yours")

    assert_problem(client.get("/api/home"), 401)
    resp = client.get("/api/home", token=u.token)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    home = resp.get_json()
    agents_ = home["agents"]
    assert agents_["counts"] == {"running": 1, "suspended": 1}
    assert [i["id"] for i in agents_["running"]] == [running]
    assert [i["id"] for i in agents_["suspended"]] == [suspended]
    assert agents_["running"][0]["agent_name"] == "Worker 0"
    assert agents_["error"] == [] and "destroyed" not in agents_
    assert home["credits"]["available"] == 50  # the sign-up trial
    assert [s["id"] for s in home["recent_sessions"]] == [s_new, s_old]
    assert home["recent_sessions"][0]["agent_name"] == "Worker 1"
    assert home["notifications"]["unread_count"] == 1
    assert [n["title"] for n in home["notifications"]["items"]] == ["Unread one"]
    empty = client.get("/api/home", token=make_user().token).get_json()
    assert empty["agents"]["counts"] == {} and empty["recent_sessions"] == []
