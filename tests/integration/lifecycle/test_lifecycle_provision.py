"""Hire → provision saga → running; idempotent hires; the saga's Fly resources and Vault token."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from shared.fly.config import INSTANCE_METADATA_KEY
from shared.lifecycle.names import app_name, network_name
from tests.support.harness import assert_problem


def test_hire_provisions_to_running(lifecycle, make_user):
    user = make_user()
    body = lifecycle.hire(user)
    assert body["status"] == "provisioning" and body["provision_stage"] == "queued"
    assert body["agent_slug"] == "inbox-zero" and body["error_message"] is None
    assert "fly_app" not in body and "gateway_token_secret_id" not in body
    lifecycle.drain(instance_ids=[body["id"]])

    got = lifecycle.client.get(f"/api/instances/{body['id']}", token=user.token).get_json()
    assert got["status"] == "running" and got["provision_stage"] == "ready", got
    row = lifecycle.row(body["id"])
    assert row["fly_app"] == app_name(body["id"]) and row["fly_machine_id"] and row["fly_volume_id"]
    assert row["gateway_token_secret_id"] is not None and row["region"] == "iad"

    res = lifecycle.fly_resources(body["id"])
    assert res["machines"] == [row["fly_machine_id"]] and res["volumes"] == [row["fly_volume_id"]]
    assert res["network"] == network_name(body["id"])  # its own 6PN network

    def config(s):
        m = s.machines[row["fly_machine_id"]]
        return m.config, m.state

    cfg, state = lifecycle.fly.call(config)
    assert state == "started"
    assert cfg["guest"] == {"cpu_kind": "shared", "cpus": 1, "memory_mb": 2048}
    assert cfg["mounts"][0]["path"] == "/data" and cfg["mounts"][0]["volume"] == row["fly_volume_id"]
    service = cfg["services"][0]
    assert service["autostop"] == "suspend" and service["autostart"] is True
    assert cfg["checks"]["bridge"]["path"] == "/health"
    assert cfg["metadata"][INSTANCE_METADATA_KEY] == body["id"]
    with lifecycle.db.service() as tx:
        token = tx.sql("select decrypted_secret from vault.decrypted_secrets where id = %(id)s",
                       {"id": row["gateway_token_secret_id"]}).fetchone()["decrypted_secret"]
    assert cfg["env"]["GATEWAY_TOKEN"] == token  # the token lives in Vault and the machine, not the row


def test_hire_again_returns_the_same_instance(lifecycle, make_user):
    user = make_user()
    first = lifecycle.hire(user, "meeting-scribe")
    again = lifecycle.hire(user, "meeting-scribe", expect=200)
    assert again["id"] == first["id"]
    lifecycle.drain(instance_ids=[first["id"]])
    assert lifecycle.hire(user, "meeting-scribe", expect=200)["status"] == "running"


def test_concurrent_hires_make_one_instance(lifecycle, make_user, app):
    from tests.support.harness import ApiClient

    user = make_user()

    def hire(_):
        resp = ApiClient(app).post("/api/instances", json_body={"agent": "daily-planner"}, token=user.token)
        return resp.status_code, resp.get_json()["id"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(hire, range(8)))
    assert {i for _, i in results} == {results[0][1]}
    assert sorted(s for s, _ in results).count(202) == 1
    with lifecycle.db.service() as tx:
        jobs = tx.sql("select count(*) as n from procrastinate.procrastinate_jobs where task_name = 'provision_instance'"
                      " and args->>'instance_id' = %(id)s", {"id": results[0][1]}).fetchone()["n"]
    assert jobs == 1
    lifecycle.drain(instance_ids=[results[0][1]])


def test_unknown_or_unpublished_agent_is_404(lifecycle, make_user, db):
    user = make_user()
    assert_problem(lifecycle.client.post("/api/instances", json_body={"agent": "no-such-agent"}, token=user.token), 404)
    with db.service() as tx:
        slug = tx.sql("select slug from agents where status <> 'published' limit 1").fetchone()
    if slug:
        assert_problem(lifecycle.client.post("/api/instances", json_body={"agent": slug["slug"]}, token=user.token), 404)
    assert_problem(lifecycle.client.post("/api/instances", json_body={"agent": "inbox-zero"}), 401)
