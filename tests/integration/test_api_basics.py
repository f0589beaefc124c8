from tests.support.harness import assert_problem


def test_health_reports_database(client):
    resp = client.get("/api/health")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ok" and body["database"]["ok"] is True
    assert resp.headers["X-Request-Id"]


def test_sign_in_and_me(client, make_user):
    u = make_user()
    resp = client.get("/api/me", token=u.token)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    me = resp.get_json()
    assert me["id"] == u.id and me["email"] == u.email and me["role"] == "user" and me["plan"] == "trial"


def test_agents_list_and_detail(client, seeded):
    resp = client.get("/api/agents", query={"q": "email"})
    assert resp.status_code == 200
    items = resp.get_json()["items"]
    assert items and items[0]["slug"] == "inbox-zero"
    detail = client.get("/api/agents/inbox-zero").get_json()
    assert detail["description"].startswith("# Inbox Zero")
    assert_problem(client.get("/api/agents/secret-draft"), 404)
