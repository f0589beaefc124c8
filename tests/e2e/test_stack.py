"""The running local stack, driven over real HTTP as a client would."""

from __future__ import annotations

import functools

from tests.support.harness import HttpClient
from tests.support.polling import wait_for

_wait = functools.partial(wait_for, timeout=60.0)


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


def test_hire_chat_and_pay_over_http(running_stack):
    """What `make dev` promises: a hired agent goes running, streams an answer that is paid for in
    credits, and a plan bought through (fake) Stripe Checkout turns into credits via the webhook."""
    from shared.streaming import sse

    with HttpClient(running_stack) as http:
        token = http.post("/api/dev/sign-in", json={"email": "e2e-buyer@test.openagents.dev"}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        inst = http.post("/api/instances", json={"agent": "inbox-zero"}, headers=auth).json()
        _wait(lambda: http.get(f"/api/instances/{inst['id']}", headers=auth).json()["status"] == "running")
        before = http.get("/api/credits", headers=auth).json()["balance"]["available"]
        body = {"instance_id": inst["id"], "message": "hello from e2e", "client_message_id": "e2e-1"}
        with http.stream("POST", "/api/chat/stream", json=body, headers=auth) as resp:
            events = [e for e in sse.parse(resp.iter_lines()) if isinstance(e, sse.Event)]
        assert events[0].event == "session" and events[-1].event == "done"
        charged = events[-1].data["credits"]
        after = http.get("/api/credits", headers=auth).json()["balance"]["available"]
        assert charged > 0 and before - after == charged

        # Suspend, then a chat wakes it (status waking first), then destroy keeps the history.
        assert http.post(f"/api/instances/{inst['id']}/suspend", headers=auth).status_code == 202
        _wait(lambda: http.get(f"/api/instances/{inst['id']}", headers=auth).json()["status"] == "suspended")
        body = {"instance_id": inst["id"], "message": "are you there?", "client_message_id": "e2e-2"}
        with http.stream("POST", "/api/chat/stream", json=body, headers=auth) as resp:
            woken = [e for e in sse.parse(resp.iter_lines()) if isinstance(e, sse.Event)]
        assert woken[1].data == {"state": "waking"} and woken[-1].event == "done"
        session_id = woken[0].data["session_id"]
        assert http.delete(f"/api/instances/{inst['id']}", headers=auth).status_code == 202
        _wait(lambda: http.get(f"/api/instances/{inst['id']}", headers=auth).json()["status"] == "destroyed")
        assert len(http.get(f"/api/sessions/{session_id}/messages", headers=auth).json()["items"]) == 2
        after = http.get("/api/credits", headers=auth).json()["balance"]["available"]

        checkout = http.post("/api/billing/checkout", json={"plan": "pro"}, headers=auth)
        assert checkout.status_code == 200, checkout.text
        url = checkout.json()["url"]
        base, session_id = url.rsplit("/checkout/", 1)
        done = http.post(f"{base}/_fake/checkout/{session_id}/complete", json={})
        assert done.status_code == 200, done.text
        balance = _wait(lambda: (b := http.get("/api/credits", headers=auth).json()["balance"])["available"] > after and b)
        assert balance["plan"] == "pro" and balance["available"] >= 4000
