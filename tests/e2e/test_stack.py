"""The running local stack, driven over real HTTP as a client would."""

from __future__ import annotations

from tests.harness import HttpClient


def test_health_sign_in_and_marketplace_over_http(running_stack):
    with HttpClient(running_stack) as http:
        health = http.get("/api/health")
        assert health.status_code == 200 and health.json()["database"]["ok"]
        agents = http.get("/api/agents", params={"limit": 50}).json()
        assert len(agents["items"]) >= 20
        token = http.post("/api/dev/sign-in", json={"email": "demo@openagents.dev"}).json()["access_token"]
        me = http.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
        assert me["display_name"] == "Demo User"
        missing = http.get("/api/agents/nope")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
        assert http.get("/functions/v1/unknown").status_code == 404
        doc = http.get("/api/openapi.json").json()
        assert "/api/agents/{slug}" in doc["paths"]
