"""SSH access (issue 11 item 4) against a real SSH server on loopback (tests/support/ssh_server.py):
Power plan only, the key in Vault and never returned, every command through the gateway-token route,
allow/deny lists, 10 a minute, each call audited, revocation at once, the audit page and its CSV, and
the 90-day retention."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.harness import assert_problem
from tests.support.ssh_access import SSH_KEY, MachineInstance, machine_instance, set_plan, ssh_body
from tests.support.ssh_server import LocalSshServer


@pytest.fixture(scope="module")
def ssh_server() -> Iterator[LocalSshServer]:
    with LocalSshServer(authorized_key=SSH_KEY) as server:
        yield server


@pytest.fixture
def power_user(make_user: Any, db: Any) -> Any:
    u = make_user()
    set_plan(db, u.id, "power")
    return u


@pytest.fixture
def instance(power_user: Any, db: Any) -> MachineInstance:
    return machine_instance(db, power_user.id)


def configure(client: Any, user: Any, inst: MachineInstance, server: LocalSshServer, **kw: Any) -> Any:
    resp = client.put(f"/api/instances/{inst.id}/ssh", json_body=ssh_body(server, **kw), token=user.token)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def run(client: Any, inst: MachineInstance, command: str, **extra: Any) -> Any:
    return client.post("/api/machine/ssh/exec", json_body={"command": command, **extra}, headers=inst.headers)


def audit_rows(client: Any, user: Any, inst: MachineInstance) -> list[dict[str, Any]]:
    resp = client.get(f"/api/instances/{inst.id}/ssh/audit", token=user.token, query={"limit": 100})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["items"]


def test_ssh_needs_the_power_plan(client, make_user, db, ssh_server):
    u = make_user()
    inst = machine_instance(db, u.id)
    resp = client.put(f"/api/instances/{inst.id}/ssh", json_body=ssh_body(ssh_server), token=u.token)
    assert assert_problem(resp, 403)["type"].endswith("/plan-required")
    set_plan(db, u.id, "power")
    configure(client, u, inst, ssh_server)
    set_plan(db, u.id, "pro")  # a downgrade: the next command is refused, and recorded
    assert assert_problem(run(client, inst, "echo hi"), 403)["type"].endswith("/plan-required")
    assert [(r["outcome"], r["allowed"]) for r in audit_rows(client, u, inst)] == [("unavailable", False)]


def test_the_key_goes_to_vault_and_is_never_returned(client, power_user, instance, ssh_server, db):
    out = configure(client, power_user, instance, ssh_server)
    assert "private_key" not in out and out["key_fingerprint"].startswith("SHA256:")
    assert out["user"] == "agent" and out["allow"] == ["*"] and out["host_key"] is None
    with db.service() as tx:
        row = tx.sql("select c.secret_id, s.decrypted_secret from ssh_configs c"
                     " join vault.decrypted_secrets s on s.id = c.secret_id where c.instance_id = %(i)s",
                     {"i": instance.id}).fetchone()
        assert row["decrypted_secret"] == SSH_KEY
        granted = tx.sql("select column_name from information_schema.column_privileges where table_name = 'ssh_configs'"
                         " and grantee = 'authenticated' and privilege_type = 'SELECT'").fetchall()
    assert "secret_id" not in {g["column_name"] for g in granted}  # owners never see even the Vault id
    bad = client.put(f"/api/instances/{instance.id}/ssh", token=power_user.token,
                     json_body={**ssh_body(ssh_server), "private_key": "-----BEGIN " "OPENSSH PRIVATE KEY-----\nnope\n"})
    assert assert_problem(bad, 422)["type"].endswith("/invalid-ssh-key")
    # Replacing the config keeps one Vault secret, updated in place.
    again = configure(client, power_user, instance, ssh_server, allow=["echo *"])
    assert again["allow"] == ["echo *"]
    with db.service() as tx:
        assert tx.sql("select secret_id from ssh_configs where instance_id = %(i)s",
                      {"i": instance.id}).fetchone()["secret_id"] == row["secret_id"]


def test_a_command_runs_over_ssh_and_is_audited(client, power_user, instance, ssh_server):
    configure(client, power_user, instance, ssh_server)
    ok = run(client, instance, "echo hello from ssh")  # no instance id: the token says which instance
    assert ok.status_code == 200, ok.get_data(as_text=True)
    result = ok.get_json()
    assert (result["exit_code"], result["stdout"], result["stderr"], result["truncated"]) == (0, "hello from ssh\n", "", False)
    assert ssh_server.commands[-1] == "echo hello from ssh"
    failed = run(client, instance, "ls /oa-no-such-directory", instance_id=instance.id)
    assert failed.status_code == 200
    assert failed.get_json()["exit_code"] == 2 and "oa-no-such-directory" in failed.get_json()["stderr"]
    rows = audit_rows(client, power_user, instance)
    assert [r["id"] for r in rows] == [failed.get_json()["audit_id"], result["audit_id"]]
    assert (rows[1]["outcome"], rows[1]["exit_code"], rows[1]["output"]) == ("completed", 0, "hello from ssh\n")
    assert rows[0]["exit_code"] == 2 and rows[0]["finished_at"] is not None
    big = run(client, instance, "seq 1 100000")  # ~590 KB: cut at 64 KiB, 4,000 characters kept in the log
    assert big.status_code == 200 and big.get_json()["truncated"] and len(big.get_json()["stdout"]) == 65536
    row = audit_rows(client, power_user, instance)[0]
    assert len(row["output"]) == 4000 and row["output_truncated"]
    # The host key the server showed was pinned: it is what later connections must see.
    cfg = client.put(f"/api/instances/{instance.id}/ssh", json_body=ssh_body(ssh_server), token=power_user.token)
    assert cfg.get_json()["host_key"] == ssh_server.host_key


def test_a_pinned_host_key_that_does_not_match_fails_the_call(client, power_user, instance, ssh_server):
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    configure(client, power_user, instance, ssh_server, host_key=other)
    before = len(ssh_server.commands)
    problem = assert_problem(run(client, instance, "echo hi"), 502)
    assert problem["type"].endswith("/ssh-failed") and "host key" in problem["detail"]
    assert len(ssh_server.commands) == before
    assert audit_rows(client, power_user, instance)[0]["outcome"] == "failed"


def test_denied_commands_are_refused_and_audited(client, power_user, instance, ssh_server):
    configure(client, power_user, instance, ssh_server, allow=["echo *", "ls*"], deny=["echo secret*"])
    before = len(ssh_server.commands)
    for command in ("rm -rf /tmp/x", "echo secret things", "echo  secret   spaced", "ls; rm -rf ~",
                    "echo $(id)", "ls | sh", "echo hi\nrm x"):
        problem = assert_problem(run(client, instance, command), 403)
        assert problem["type"].endswith("/ssh-command-denied"), command
    assert len(ssh_server.commands) == before  # nothing reached the server
    assert run(client, instance, "ls").status_code == 200
    rows = audit_rows(client, power_user, instance)
    assert [r["outcome"] for r in rows] == ["completed"] + ["denied"] * 7
    assert rows[-1]["command"] == "rm -rf /tmp/x" and "no allow pattern" in rows[-1]["detail"]
    assert "deny pattern" in rows[-2]["detail"] and "deny pattern" in rows[-3]["detail"]


def test_the_eleventh_command_in_a_minute_is_limited(client, power_user, instance, ssh_server):
    configure(client, power_user, instance, ssh_server, allow=["true", "echo *"], deny=["echo no*"])
    assert run(client, instance, "echo nope").status_code == 403  # refused calls count too
    for _ in range(9):
        assert run(client, instance, "true").status_code == 200
    limited = run(client, instance, "true")
    assert_problem(limited, 429)
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert assert_problem(run(client, instance, "true"), 429)["type"].endswith("/rate-limited")
    rows = audit_rows(client, power_user, instance)
    assert [r["outcome"] for r in rows[:2]] == ["rate_limited", "rate_limited"]
    assert sum(r["outcome"] == "completed" for r in rows) == 9


def test_revocation_takes_effect_on_the_next_call(client, power_user, instance, ssh_server, db):
    configure(client, power_user, instance, ssh_server)
    assert run(client, instance, "echo before").status_code == 200
    with db.service() as tx:
        secret_id = tx.sql("select secret_id from ssh_configs where instance_id = %(i)s",
                           {"i": instance.id}).fetchone()["secret_id"]
    assert client.delete(f"/api/instances/{instance.id}/ssh", token=power_user.token).status_code == 204
    problem = assert_problem(run(client, instance, "echo after"), 404)
    assert problem["type"].endswith("/ssh-not-configured")
    assert ssh_server.commands[-1] == "echo before"
    with db.service() as tx:
        assert tx.sql("select count(*) as n from vault.secrets where id = %(s)s", {"s": secret_id}).fetchone()["n"] == 0
    assert [r["outcome"] for r in audit_rows(client, power_user, instance)] == ["unavailable", "completed"]
    assert_problem(client.delete(f"/api/instances/{instance.id}/ssh", token=power_user.token), 404)
    actions = [e["action"] for e in client.get("/api/me/audit", token=power_user.token).get_json()["items"]]
    assert actions[:2] == ["ssh.revoked", "ssh.configured"]


def test_only_the_instance_gateway_token_runs_commands(client, power_user, instance, ssh_server, db, make_user):
    configure(client, power_user, instance, ssh_server)
    assert_problem(client.post("/api/machine/ssh/exec", json_body={"command": "echo x"}), 401)
    assert_problem(client.post("/api/machine/ssh/exec", json_body={"command": "echo x"},
                               headers={"Authorization": "Bearer gw_not-a-real-token"}), 401)
    assert_problem(client.post("/api/machine/ssh/exec", json_body={"command": "echo x"},
                               headers={"Authorization": f"Bearer {power_user.token}"}), 401)  # a user's JWT is not one
    other = machine_instance(db, make_user().id)
    # Another instance's token, even naming this instance, is that other instance: refused.
    resp = client.post("/api/machine/ssh/exec", json_body={"command": "echo x", "instance_id": instance.id},
                       headers=other.headers)
    assert resp.status_code in (401, 403), resp.get_data(as_text=True)
    # A machine whose token hash is not known yet is found through the instance id it sends, once.
    fresh = machine_instance(db, power_user.id)
    assert_problem(run(client, fresh, "echo x"), 401)
    assert_problem(run(client, fresh, "echo x", instance_id=fresh.id), 404)  # known now; no SSH config
    assert_problem(run(client, fresh, "echo x"), 404)
    # A deleted token stops working even though its hash is remembered.
    from shared.lifecycle import gateway

    with db.service() as tx:
        secret_id = tx.sql("select gateway_token_secret_id from agent_instances where id = %(i)s",
                           {"i": fresh.id}).fetchone()["gateway_token_secret_id"]
    gateway.delete_token(str(secret_id))
    assert_problem(run(client, fresh, "echo x"), 401)


def test_the_audit_log_pages_exports_csv_and_is_private(client, power_user, instance, ssh_server, make_user):
    configure(client, power_user, instance, ssh_server)
    for i in range(3):
        assert run(client, instance, f"echo line {i}").status_code == 200
    assert run(client, instance, "=1+2").status_code == 200  # a formula-looking command (exit 127 on the host)
    first = client.get(f"/api/instances/{instance.id}/ssh/audit", token=power_user.token, query={"limit": 3}).get_json()
    assert set(first) == {"items", "next_cursor"} and len(first["items"]) == 3 and first["next_cursor"]
    rest = client.get(f"/api/instances/{instance.id}/ssh/audit", token=power_user.token,
                      query={"limit": 3, "cursor": first["next_cursor"]}).get_json()
    assert [r["command"] for r in first["items"] + rest["items"]] == ["=1+2", "echo line 2", "echo line 1", "echo line 0"]
    assert rest["next_cursor"] is None
    for kwargs in ({"query": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}):
        resp = client.get(f"/api/instances/{instance.id}/ssh/audit", token=power_user.token, **kwargs)
        assert resp.status_code == 200 and resp.mimetype == "text/csv"
        table = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
        assert [r["command"] for r in table] == ["'=1+2", "echo line 2", "echo line 1", "echo line 0"]
        assert table[1]["outcome"] == "completed" and table[1]["exit_code"] == "0" and table[1]["output"] == "line 2\n"
    stranger = make_user()
    assert_problem(client.get(f"/api/instances/{instance.id}/ssh/audit", token=stranger.token), 404)
    assert_problem(client.get(f"/api/instances/{instance.id}/ssh/audit", token=stranger.token,
                              query={"format": "csv"}), 404)
    assert_problem(client.put(f"/api/instances/{instance.id}/ssh", json_body=ssh_body(ssh_server),
                              token=stranger.token), 404)
    assert_problem(client.delete(f"/api/instances/{instance.id}/ssh", token=stranger.token), 404)


def test_retention_keeps_ninety_days_and_can_run_again(client, power_user, instance, ssh_server, db):
    from jobs.security import ssh_audit_retention

    configure(client, power_user, instance, ssh_server)
    assert run(client, instance, "echo recent").status_code == 200
    with db.service() as tx:
        tx.sql("insert into ssh_audit_log (instance_id, user_id, command, allowed, outcome, created_at)"
               " select %(i)s, %(u)s, 'old ' || n, true, 'completed', now() - make_interval(days => 90 + n)"
               " from generate_series(1, 30) n", {"i": instance.id, "u": power_user.id})
        tx.sql("insert into ssh_audit_log (instance_id, user_id, command, allowed, outcome, created_at)"
               " values (%(i)s, %(u)s, 'day 89', true, 'completed', now() - interval '89 days')",
               {"i": instance.id, "u": power_user.id})
    assert ssh_audit_retention.func() >= 30
    assert ssh_audit_retention.func() == 0  # a second run (a retry after a crash) finds nothing left to do
    commands = [r["command"] for r in audit_rows(client, power_user, instance)]
    assert sorted(commands) == ["day 89", "echo recent"]
