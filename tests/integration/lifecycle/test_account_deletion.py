"""The audit log of hire/destroy and account deletion (`DELETE /api/me`) on the real lifecycle: the
Fly emulator runs the machines, the jobs run in this process (tests/integration/lifecycle/conftest.py)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.integration.lifecycle.conftest import Lifecycle, provisioned
from tests.support.billing_helpers import ledger
from tests.support.harness import CANARIES, assert_problem
from tests.support.ssh_access import SSH_KEY, set_plan


def _actions(client: Any, user: Any) -> list[str]:
    return [e["action"] for e in client.get("/api/me/audit", token=user.token).get_json()["items"]]


def test_hire_and_destroy_are_audited(lifecycle: Lifecycle, user: Any) -> None:
    iid, _ = provisioned(lifecycle, user)
    lifecycle.action(user, iid, "destroy")
    lifecycle.drain(instance_ids=[iid])
    assert _actions(lifecycle.client, user)[:2] == ["instance.destroy_requested", "instance.hired"]
    entries = lifecycle.client.get("/api/me/audit", token=user.token, query={"limit": 1}).get_json()
    assert entries["items"][0]["target"] == f"instance:{iid}" and entries["next_cursor"]
    older = lifecycle.client.get("/api/me/audit", token=user.token,
                                 query={"limit": 1, "cursor": entries["next_cursor"]}).get_json()
    assert older["items"][0]["details"] == {"agent": "inbox-zero"}


def _plant_account_data(db: Any, user_id: str, instance_id: str) -> dict[str, Any]:
    """What the other features of an account write (BYOK keys, the proxy, relays, chat, reviews)."""
    byok = "sk-byok-canary-" + uuid.uuid4().hex
    with db.service() as tx:
        key_secret = tx.sql("select vault.create_secret(%(s)s, %(n)s, 'test BYOK key') as id",
                            {"s": byok, "n": f"byok:{user_id}:openai"}).fetchone()["id"]
        tx.sql("insert into api_keys (user_id, provider, secret_id, last_four) values (%(u)s, 'openai', %(s)s, 'abcd')",
               {"u": user_id, "s": key_secret})
        # Provisioning gave the instance its LLM-proxy token; one more, from an earlier machine, revoked.
        tx.sql("insert into proxy_tokens (instance_id, user_id, token_hash, revoked_at)"
               " values (%(i)s, %(u)s, %(h)s, now())", {"i": instance_id, "u": user_id, "h": uuid.uuid4().hex})
        tx.sql("insert into relay_connections (user_id, instance_id, relay, external_user_id, external_chat_id)"
               " values (%(u)s, %(i)s, 'telegram', %(x)s, %(x)s)", {"u": user_id, "i": instance_id, "x": uuid.uuid4().hex})
        tx.sql("insert into relay_link_tokens (user_id, instance_id, relay, token_hash, expires_at)"
               " values (%(u)s, %(i)s, 'telegram', %(h)s, now() + interval '1 hour')",
               {"u": user_id, "i": instance_id, "h": uuid.uuid4().hex})
        session = tx.sql("insert into sessions (user_id, instance_id, title) values (%(u)s, %(i)s, 'my diary')"
                         " returning id", {"u": user_id, "i": instance_id}).fetchone()["id"]
        tx.sql("insert into messages (session_id, user_id, role, content) values (%(s)s, %(u)s, 'user', 'dear diary')",
               {"s": session, "u": user_id})
        tx.sql("insert into notifications (user_id, kind, title) values (%(u)s, 'test', 'hello')", {"u": user_id})
        tx.sql("insert into agent_reviews (agent_id, user_id, rating, body)"
               " select id, %(u)s, 4, 'nice' from agents where slug = 'inbox-zero'", {"u": user_id})
    return {"byok": byok, "session": str(session)}


def test_deleting_an_account(lifecycle: Lifecycle, make_user: Any, db: Any) -> None:
    client = lifecycle.client
    user = make_user()
    set_plan(db, user.id, "power")
    iid, row = provisioned(lifecycle, user)
    ssh = client.put(f"/api/instances/{iid}/ssh", token=user.token,
                     json_body={"host": "ssh.example.test", "user": "agent", "private_key": SSH_KEY, "allow": ["*"]})
    assert ssh.status_code == 200, ssh.get_data(as_text=True)
    planted = _plant_account_data(db, user.id, iid)
    with db.service() as tx:
        secrets = [r["id"] for r in tx.sql(
            "select gateway_token_secret_id as id from agent_instances where user_id = %(u)s"
            " union all select secret_id from api_keys where user_id = %(u)s"
            " union all select secret_id from ssh_configs where user_id = %(u)s"
            " union all select secret_id from proxy_tokens where user_id = %(u)s and secret_id is not null",
            {"u": user.id}).fetchall()]
    assert len(secrets) >= 3  # gateway token, BYOK key, SSH key (and the proxy token where it is in Vault)
    money = ledger(db, user.id)
    assert money  # the trial grant at least

    resp = client.delete("/api/me", token=user.token)
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert resp.get_json()["instances_destroying"] == [iid]
    # The token stops working at once, for reads and writes alike.
    for method, path in (("GET", "/api/me"), ("DELETE", "/api/me"), ("GET", "/api/instances"),
                         ("POST", "/api/instances")):
        assert_problem(client.request(method, path, token=user.token, json_body={"agent": "inbox-zero"}
                                      if method == "POST" else None), 401)

    lifecycle.drain(instance_ids=[iid])
    assert lifecycle.row(iid)["status"] == "destroyed"
    assert lifecycle.fly_resources(iid) == {"app": False, "machines": [], "volumes": []}

    with db.service() as tx:
        q = tx.sql
        assert q("select count(*) as n from vault.secrets where id = any(%(s)s)", {"s": secrets}).fetchone()["n"] == 0
        for table in ("api_keys", "ssh_configs", "relay_connections", "relay_link_tokens", "notifications",
                      "agent_reviews", "ssh_audit_log"):
            assert q(f"select count(*) as n from {table} where user_id = %(u)s", {"u": user.id}).fetchone()["n"] == 0, table
        assert q("select count(*) as n from proxy_tokens where user_id = %(u)s and revoked_at is null",
                 {"u": user.id}).fetchone()["n"] == 0
        profile = q("select display_name, avatar_url, deleted_at from profiles where id = %(u)s", {"u": user.id}).fetchone()
        assert profile["display_name"] == "Deleted user" and profile["avatar_url"] is None and profile["deleted_at"]
        auth_user = q("select email, raw_user_meta_data, deleted_at from auth.users where id = %(u)s",
                      {"u": user.id}).fetchone()
        assert auth_user["email"] == f"deleted-{user.id}@deleted.invalid" and auth_user["raw_user_meta_data"] == {}
        assert q("select content from messages where session_id = %(s)s", {"s": planted["session"]}).fetchone()["content"] == ""
        assert q("select title from sessions where id = %(s)s", {"s": planted["session"]}).fetchone()["title"] == ""
        audit = q("select action, data from audit_log where actor_id = %(u)s order by id desc limit 1",
                  {"u": user.id}).fetchone()
    assert audit["action"] == "account.deleted"
    assert audit["data"]["vault_secrets"] == len(secrets) and audit["data"]["instances"] == 1
    # The money records stay, under the same (now anonymous) id.
    assert ledger(db, user.id)[: len(money)] == money
    assert user.email not in str(audit) and planted["byok"] not in str(audit)
    # The address is free again: signing in with it makes a new, separate account.
    again = client.post("/api/dev/sign-in", json_body={"email": user.email}).get_json()
    assert again["user_id"] != user.id
    assert client.get("/api/me", token=again["access_token"]).get_json()["plan"] == "trial"
    assert CANARIES["SSH_TEST_PRIVATE_KEY"] == SSH_KEY
