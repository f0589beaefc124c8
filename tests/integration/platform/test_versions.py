"""New versions of a published agent (`POST …/versions`): what may be added, submit acting on the newest
unsubmitted version, a published version ending older unpublished work, the creator's version list,
and archiving (the agent leaves discovery)."""

from __future__ import annotations

from typing import Any

from tests.support.harness import assert_problem
from tests.support.platform_bundles import agent_files, skill_md, slug, upload

FLAGGED = {"fetch": {"SKILL.md": skill_md("fetch", {}, "Fetch https://api.unlisted-host.dev/data for the user.\n")}}


def _code(resp: Any, status: int) -> str:
    return assert_problem(resp, status)["type"].rsplit("/", 1)[1]


def _submit(client: Any, creator: Any, agent_slug: str) -> dict[str, Any]:
    resp = client.post(f"/api/platform/agents/{agent_slug}/submit", token=creator.token)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def _add(client: Any, creator: Any, agent_slug: str, version: str, **kw: Any) -> Any:
    return upload(client, creator, agent_files(agent_slug, version=version, **kw),
                  path=f"/api/platform/agents/{agent_slug}/versions")


def test_versions_of_a_published_agent(client: Any, db: Any, creator: Any, admin: Any, make_user: Any,
                                       signing_key: str) -> None:
    s = slug()
    assert upload(client, creator, agent_files(s)).status_code == 201
    assert _code(_add(client, creator, s, "1.1.0"), 409) == "not-published"  # a draft is replaced with PUT
    v1 = _submit(client, creator, s)
    assert v1["status"] == "published"

    assert _code(_add(client, creator, s, "1.0.0"), 409) == "version-not-newer"
    assert _code(_add(client, creator, s, "0.9.9"), 409) == "version-not-newer"
    assert _code(_add(client, creator, s, "1.0.0-rc.1"), 409) == "version-not-newer"  # a pre-release sorts first
    other = upload(client, creator, agent_files(slug(), version="2.0.0"), path=f"/api/platform/agents/{s}/versions")
    assert assert_problem(other, 422)["errors"][0]["field"] == "slug"
    assert upload(client, make_user("creator"), agent_files(s, version="2.0.0"),
                  path=f"/api/platform/agents/{s}/versions").status_code == 404  # not theirs

    # v1.1.0 is flagged by the scan and waits for review; the listing still shows v1.
    added = _add(client, creator, s, "1.1.0", skills=FLAGGED, name="Renamed While In Review")
    assert added.status_code == 201, added.get_data(as_text=True)
    assert added.get_json()["version"]["version"] == "1.1.0" and added.get_json()["version"]["status"] == "draft"
    assert _code(_add(client, creator, s, "1.2.0"), 409) == "draft-exists"
    flagged = _submit(client, creator, s)
    assert flagged["status"] == "review" and flagged["version_id"] != v1["version_id"]
    page = client.get(f"/api/agents/{s}").get_json()
    assert page["current_version"]["id"] == v1["version_id"] and page["name"] == f"Agent {s}"

    # v1.2.0 goes past it: submit acts on the newest unsubmitted version, and publishing it ends v1.1.0.
    assert _add(client, creator, s, "1.2.0", changelog="Faster.").status_code == 201
    assert _code(upload(client, creator, agent_files(s, version="1.0.0"), method="PUT",
                        path=f"/api/platform/agents/{s}"), 409) == "version-not-newer"
    replaced = upload(client, creator, agent_files(s, version="1.3.0", changelog="Much faster."), method="PUT",
                      path=f"/api/platform/agents/{s}")
    assert replaced.status_code == 200 and replaced.get_json()["version"]["version"] == "1.3.0"
    v3 = _submit(client, creator, s)
    assert v3["status"] == "published" and v3["version_id"] not in (v1["version_id"], flagged["version_id"])
    assert client.get(f"/api/agents/{s}").get_json()["current_version"]["version"] == "1.3.0"
    assert _code(client.post(f"/api/admin/reviews/{flagged['version_id']}", json_body={"decision": "approve"},
                             token=admin.token), 409) == "not-in-review"  # approving it would roll the agent back
    assert _code(client.post(f"/api/platform/agents/{s}/submit", token=creator.token), 409) == "nothing-to-submit"

    mine = client.get(f"/api/platform/agents/{s}", token=creator.token).get_json()
    assert [(v["version"], v["status"]) for v in mine["versions"]] == [
        ("1.3.0", "published"), ("1.1.0", "superseded"), ("1.0.0", "superseded")]
    assert all(v["rollout"] is None and v["instances"] == 0 for v in mine["versions"])  # nobody hired it yet
    assert mine["versions"][0]["changelog"] == "Much faster." and mine["versions"][0]["published_at"]
    assert client.get(f"/api/platform/agents/{s}", token=make_user("creator").token).status_code == 404


def test_archived_agents_leave_discovery(client: Any, creator: Any, make_user: Any, signing_key: str) -> None:
    s = slug()
    name = f"Archivable {s}"
    assert upload(client, creator, agent_files(s, name=name)).status_code == 201
    assert _code(client.post(f"/api/platform/agents/{s}/archive", token=creator.token), 409) == "not-published"
    assert _submit(client, creator, s)["status"] == "published"
    assert [a["slug"] for a in client.get("/api/agents", query={"q": name}).get_json()["items"]][:1] == [s]
    assert client.post(f"/api/platform/agents/{s}/archive", token=make_user("creator").token).status_code == 404

    archived = client.post(f"/api/platform/agents/{s}/archive", token=creator.token)
    assert archived.status_code == 200 and archived.get_json()["status"] == "archived"
    assert client.post(f"/api/platform/agents/{s}/archive", token=creator.token).get_json()["status"] == "archived"
    assert s not in [a["slug"] for a in client.get("/api/agents", query={"q": name}).get_json()["items"]]
    assert client.get(f"/api/agents/{s}").status_code == 404
    assert client.get(f"/api/agents/{s}/agent-card.json").status_code == 404
    assert client.post("/api/instances", json_body={"agent": s}, token=make_user().token).status_code == 404
    assert _code(_add(client, creator, s, "2.0.0"), 409) == "archived"
    assert client.get(f"/api/platform/agents/{s}", token=creator.token).get_json()["status"] == "archived"


def test_a_draft_overtaken_by_a_published_version_cannot_go_back(client: Any, creator: Any, admin: Any,
                                                                 signing_key: str) -> None:
    s = slug()
    assert upload(client, creator, agent_files(s)).status_code == 201
    _submit(client, creator, s)
    assert _add(client, creator, s, "1.2.0", skills=FLAGGED).status_code == 201
    flagged = _submit(client, creator, s)
    assert flagged["status"] == "review"
    assert _add(client, creator, s, "1.1.0").status_code == 201  # newer than 1.0.0, made while 1.2.0 waits
    approved = client.post(f"/api/admin/reviews/{flagged['version_id']}", json_body={"decision": "approve"},
                           token=admin.token)
    assert approved.status_code == 200 and approved.get_json()["status"] == "published"
    assert _code(client.post(f"/api/platform/agents/{s}/submit", token=creator.token), 409) == "version-not-newer"
    fixed = upload(client, creator, agent_files(s, version="1.3.0"), method="PUT", path=f"/api/platform/agents/{s}")
    assert fixed.status_code == 200
    assert _submit(client, creator, s)["status"] == "published"
    assert client.get(f"/api/agents/{s}").get_json()["current_version"]["version"] == "1.3.0"
