"""Flagged versions wait for an admin: the queue, approve, reject, appeals once per decision, and what
discovery shows meanwhile."""

from __future__ import annotations

import json
import uuid
from typing import Any

from shared.platform.bundle import Bundle
from tests.support.harness import assert_problem
from tests.support.platform_bundles import agent_files, skill_md, slug, upload

FLAGGED = {"fetch": {"SKILL.md": skill_md("fetch", {}, "Download https://data.undeclared.dev/feed.json.\n")}}


def _submit(client: Any, creator: Any, files: dict[str, Any], s: str) -> dict[str, Any]:
    assert upload(client, creator, files).status_code == 201
    resp = client.post(f"/api/platform/agents/{s}/submit", token=creator.token)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def _flagged(client: Any, creator: Any, **listing: Any) -> tuple[str, dict[str, Any]]:
    s = slug()
    result = _submit(client, creator, agent_files(s, skills=FLAGGED, **listing), s)
    assert result["status"] == "review"
    assert [(f["rule"], f["file"]) for f in result["findings"]] == [("undeclared-network", "skills/fetch/SKILL.md")]
    return s, result


def _queue(client: Any, admin: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get("/api/admin/reviews", token=admin.token,
                          query={"limit": 50, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.get_data(as_text=True)
        body = page.get_json()
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items


def _item(client: Any, admin: Any, version_id: str) -> dict[str, Any] | None:
    return next((i for i in _queue(client, admin) if i["version_id"] == version_id), None)


def _notes(client: Any, user: Any) -> list[dict[str, Any]]:
    return client.get("/api/notifications", token=user.token).get_json()["items"]


def test_a_version_under_review_is_not_discoverable(client: Any, creator: Any, signing_key: str) -> None:
    s, _ = _flagged(client, creator, name="Hidden Reviewee Quokka")
    assert_problem(client.get(f"/api/agents/{s}"), 404)
    assert not client.get("/api/agents", query={"q": "Hidden Reviewee Quokka"}).get_json()["items"]
    draft = client.get(f"/api/platform/agents/{s}", token=creator.token).get_json()
    assert (draft["status"], draft["version"]["status"]) == ("review", "review")
    assert [d["decision"] for d in draft["version"]["decisions"]] == ["flagged"]
    assert_problem(upload(client, creator, agent_files(s), method="PUT", path=f"/api/platform/agents/{s}"), 409)
    assert_problem(client.post(f"/api/platform/agents/{s}/submit", token=creator.token), 409)


def test_admin_routes_are_for_admins(client: Any, creator: Any, user: Any) -> None:
    some = str(uuid.uuid4())
    for who in (creator, user):
        assert_problem(client.get("/api/admin/reviews", token=who.token), 403)
        assert_problem(client.post(f"/api/admin/reviews/{some}", token=who.token,
                                   json_body={"decision": "approve", "reason": ""}), 403)
    assert_problem(client.get("/api/admin/reviews"), 401)


def test_queue_and_approve(client: Any, creator: Any, admin: Any, signing_key: str) -> None:
    s, result = _flagged(client, creator, name="Approved Later Wombat")
    item = _item(client, admin, result["version_id"])
    assert item is not None
    assert item["agent"]["slug"] == s and item["creator"]["id"] == creator.id and item["version"] == "1.0.0"
    assert item["findings"] == result["findings"]
    assert "skills/fetch/SKILL.md" in [f["path"] for f in item["files"]]
    assert item["skills"][0]["name"] == "fetch"
    assert_problem(client.post(f"/api/admin/reviews/{uuid.uuid4()}", token=admin.token,
                               json_body={"decision": "approve"}), 404)
    assert_problem(client.post("/api/admin/reviews/not-a-uuid", token=admin.token, json_body={"decision": "approve"}), 404)

    resp = client.post(f"/api/admin/reviews/{result['version_id']}", token=admin.token,
                       json_body={"decision": "approve", "reason": "The feed host is the creator's own."})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["status"] == "published"
    page = client.get(f"/api/agents/{s}").get_json()
    assert page["current_version"]["id"] == result["version_id"]
    assert page["current_version"]["skills"][0]["signature"]
    assert _item(client, admin, result["version_id"]) is None
    assert client.get("/api/agents", query={"q": "Approved Later Wombat"}).get_json()["items"][0]["slug"] == s
    note = next(n for n in _notes(client, creator) if n["kind"] == "review.approved")
    assert note["data"]["agent"] == s and "creator's own" in note["body"]
    assert_problem(client.post(f"/api/admin/reviews/{result['version_id']}", token=admin.token,
                               json_body={"decision": "reject", "reason": "too late"}), 409)


def test_reject_and_appeal_once_per_decision(client: Any, creator: Any, admin: Any) -> None:
    s, result = _flagged(client, creator)
    vid = result["version_id"]
    # appealing the scan's flag: once
    first = client.post(f"/api/platform/agents/{s}/appeal", token=creator.token,
                        json_body={"message": "The host is ours; the permission was forgotten."})
    assert first.status_code == 201, first.get_data(as_text=True)
    assert first.get_json()["status"] == "review"
    assert_problem(client.post(f"/api/platform/agents/{s}/appeal", token=creator.token,
                               json_body={"message": "again"}), 409)
    item = _item(client, admin, vid)
    assert item is not None and item["decisions"][0]["appeal"]["message"].startswith("The host is ours")
    assert any(n["kind"] == "review.appeal" for n in _notes(client, admin))

    assert_problem(client.post(f"/api/admin/reviews/{vid}", token=admin.token, json_body={"decision": "reject"}), 422)
    resp = client.post(f"/api/admin/reviews/{vid}", token=admin.token,
                       json_body={"decision": "reject", "reason": "Declare data.undeclared.dev in permissions."})
    assert resp.status_code == 200 and resp.get_json()["status"] == "rejected"
    draft = client.get(f"/api/platform/agents/{s}", token=creator.token).get_json()
    assert (draft["status"], draft["version"]["status"]) == ("rejected", "rejected")
    assert draft["version"]["review_reason"] == "Declare data.undeclared.dev in permissions."
    assert [(d["decision"], d["decided_by"]) for d in draft["version"]["decisions"]] == [("flagged", "scan"),
                                                                                        ("rejected", "admin")]
    note = next(n for n in _notes(client, creator) if n["kind"] == "review.rejected")
    assert note["body"] == "Declare data.undeclared.dev in permissions."
    assert _item(client, admin, vid) is None
    assert_problem(client.get(f"/api/agents/{s}"), 404)

    # the rejection is a new decision: one appeal, which puts the version back in the queue
    again = client.post(f"/api/platform/agents/{s}/appeal", token=creator.token,
                        json_body={"message": "It is our own CDN, please look again."})
    assert again.status_code == 201 and again.get_json()["status"] == "review"
    assert_problem(client.post(f"/api/platform/agents/{s}/appeal", token=creator.token,
                               json_body={"message": "and again"}), 409)
    item = _item(client, admin, vid)
    assert item is not None and item["agent"]["status"] == "review"
    assert item["decisions"][-1]["appeal"]["message"] == "It is our own CDN, please look again."


def test_rejected_version_is_fixed_by_replacing_it(client: Any, creator: Any, admin: Any, signing_key: str) -> None:
    s, result = _flagged(client, creator)
    client.post(f"/api/admin/reviews/{result['version_id']}", token=admin.token,
                json_body={"decision": "reject", "reason": "Declare the host."})
    fixed = agent_files(s, skills={"fetch": {"SKILL.md": skill_md(
        "fetch", {"network": ["data.undeclared.dev"]}, "Download https://data.undeclared.dev/feed.json.\n")}})
    resp = upload(client, creator, fixed, method="PUT", path=f"/api/platform/agents/{s}")
    assert resp.status_code == 200 and resp.get_json()["status"] == "draft"
    assert_problem(client.post(f"/api/platform/agents/{s}/appeal", token=creator.token,
                               json_body={"message": "no decision now"}), 409)
    published = client.post(f"/api/platform/agents/{s}/submit", token=creator.token).get_json()
    assert (published["status"], published["findings"]) == ("published", [])


def test_secrets_are_rejected_at_submit_and_can_be_appealed(client: Any, creator: Any, admin: Any) -> None:
    s = slug()
    files = agent_files(s, extra={"workspace/KEYS.md": "-----BEGIN " "RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"})
    result = _submit(client, creator, files, s)
    assert result["status"] == "rejected"
    assert [(f["rule"], f["file"], f["line"]) for f in result["findings"]] == [("secret-private-key", "workspace/KEYS.md", 1)]
    draft = client.get(f"/api/platform/agents/{s}", token=creator.token).get_json()
    assert draft["status"] == "rejected" and "secret" in draft["version"]["review_reason"]
    assert _item(client, admin, result["version_id"]) is None
    resp = client.post(f"/api/platform/agents/{s}/appeal", token=creator.token,
                       json_body={"message": "That is a documented, revoked test key."})
    assert resp.status_code == 201 and resp.get_json()["status"] == "review"
    assert _item(client, admin, result["version_id"]) is not None


def test_published_agent_keeps_its_version_while_a_new_one_is_reviewed(client: Any, db: Any, creator: Any,
                                                                       admin: Any, signing_key: str) -> None:
    s = slug()
    first = _submit(client, creator, agent_files(s), s)
    assert first["status"] == "published"
    # a new version in review (POST …/versions makes these; written directly here)
    files = {p: (d.encode() if isinstance(d, str) else d)
             for p, d in agent_files(s, skills=FLAGGED, version="1.1.0", tagline="Newer").items()}
    with db.service() as tx:
        agent = tx.sql("select id, creator_id from agents where slug = %(s)s", {"s": s}).fetchone()
        new_id = tx.sql("insert into agent_versions (agent_id, creator_id, version, openclaw_version, bundle, status,"
                        " submitted_at) values (%(a)s, %(c)s, '1.1.0', '2026.9.6', %(b)s, 'review', now()) returning id",
                        {"a": agent["id"], "c": agent["creator_id"],
                         "b": json.dumps({"files": Bundle(files).to_storage()})}).fetchone()["id"]
    page = client.get(f"/api/agents/{s}").get_json()
    assert page["status"] == "published" and page["current_version"]["version"] == "1.0.0"
    assert page["tagline"] == "Helps with tests"
    assert _item(client, admin, str(new_id)) is not None
    resp = client.post(f"/api/admin/reviews/{new_id}", token=admin.token, json_body={"decision": "approve"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    page = client.get(f"/api/agents/{s}").get_json()
    assert page["current_version"]["version"] == "1.1.0" and page["tagline"] == "Newer"
    with db.service() as tx:
        old = tx.sql("select status::text from agent_versions where id = %(v)s", {"v": first["version_id"]}).fetchone()
    assert old["status"] == "superseded"
