"""The OpenAPI document is valid and complete, and vercel.json routes every path to its function."""

from __future__ import annotations

import json

from openapi_spec_validator import validate

from devstack.server import load_routes
from shared.web.openapi import all_routers
from shared.web.routes import PARAM_PATTERN


def test_openapi_document_is_valid(client):
    resp = client.get("/api/openapi.json")
    assert resp.status_code == 200
    doc = resp.get_json()
    validate(doc)
    declared = {(ep.openapi_path, ep.method.lower()) for r in all_routers() for ep in r.endpoints}
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert declared == documented
    for ops in doc["paths"].values():
        for op in ops.values():
            for code, r in op["responses"].items():
                if int(code) >= 400:
                    assert "application/problem+json" in r["content"]


def test_every_declared_route_is_routed_to_its_own_module():
    routes = load_routes()
    for router in all_routers():
        for ep in router.endpoints:
            concrete = PARAM_PATTERN.sub("x1", ep.path)
            matches = [r.module for r in routes if r.pattern.search(concrete)]
            assert matches, f"vercel.json routes nothing to {ep.path}"
            assert matches[0] == ep.handler.__module__, f"{ep.path} goes to {matches[0]}, defined in {ep.handler.__module__}"


def test_vercel_json_is_deployable():
    config = json.loads(open("vercel.json").read())
    builds = {b["src"] for b in config["builds"]}
    assert {"api/*.py", "functions/*.py"} <= builds
    for cron in config.get("crons", []):
        assert cron["path"].startswith("/api/cron/")


def test_lists_answer_items_and_next_cursor(client, seeded):
    first = client.get("/api/agents", query={"limit": 7}).get_json()
    assert set(first) == {"items", "next_cursor"} and len(first["items"]) == 7
    seen = [a["slug"] for a in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get("/api/agents", query={"limit": 7, "cursor": cursor}).get_json()
        seen += [a["slug"] for a in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) >= 20


def test_search_category_tag_and_sorts(client, seeded):
    coding = client.get("/api/agents", query={"category": "coding"}).get_json()["items"]
    assert coding and all(a["category"] == "coding" for a in coding)
    tagged = client.get("/api/agents", query={"tag": "sql"}).get_json()["items"]
    assert [a["slug"] for a in tagged] == ["sql-helper"]
    hits = client.get("/api/agents", query={"q": "review pull requests"}).get_json()["items"]
    assert hits[0]["slug"] == "code-reviewer"
    rating = client.get("/api/agents", query={"sort": "rating", "limit": 50}).get_json()["items"]
    assert [float(a["rating_avg"]) for a in rating] == sorted((float(a["rating_avg"]) for a in rating), reverse=True)
    new = client.get("/api/agents", query={"sort": "new", "limit": 50}).get_json()["items"]
    assert [a["published_at"] for a in new] == sorted((a["published_at"] for a in new), reverse=True)


def test_signed_in_and_anon_see_the_same_listing_but_creators_see_own_draft(client, seeded, make_user):
    anon = client.get("/api/agents/inbox-zero").get_json()
    u = make_user()
    assert client.get("/api/agents/inbox-zero", token=u.token).get_json() == anon
    assert client.get("/api/agents/secret-draft", token=u.token).status_code == 404
    creator = client.post("/api/dev/sign-in", json_body={"email": "ada@creators.openagents.dev"}).get_json()
    own = client.get("/api/agents/secret-draft", token=creator["access_token"])
    assert own.status_code == 200 and own.get_json()["status"] == "draft"
