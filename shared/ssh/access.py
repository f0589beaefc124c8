"""SSH access: an owner configures or revokes it; the instance's machine runs commands through it.

Configuring (`PUT /api/instances/{id}/ssh`, Power plan): the private key is checked to parse, stored
in Vault (the row keeps the secret's id, the host, user, port, lists and the pinned host key) and
never returned. Revoking (`DELETE`) removes the row and the Vault secret in one transaction: the next
command is refused.

A command (`POST /api/machine/ssh/exec`, gateway token) goes through, in order: the config exists and
the owner's plan still includes SSH; at most RATE_LIMIT calls in the last RATE_WINDOW_S seconds for the
instance (a sliding window over the audit rows themselves, counted under the config's row lock so
concurrent calls cannot both take the last slot); the allow/deny lists (`shared.ssh.policy`). Every
call gets an audit row in the transaction that decided it — refused ones with their outcome, allowed
ones as `running` before the command is sent (so a call cut short still shows), completed afterwards
with the exit code and the first 4,000 characters of output.
"""

from __future__ import annotations

import math
import secrets
from typing import Any

from shared import audit
from shared.auth import User
from shared.billing.plans import plan_limits
from shared.config import get_settings
from shared.data import get_db
from shared.problems import Problem, conflict, not_found, too_many_requests
from shared.ssh import client, policy
from shared.ssh.models import ExecRequest, ExecResult, SshConfigIn, SshConfigOut
from shared.text import clean_message

RATE_LIMIT = 10
RATE_WINDOW_S = 60
AUDIT_OUTPUT_CHARS = 4000


def _plan_required() -> Problem:
    return Problem(403, "Forbidden", "SSH access comes with the Power plan.", code="plan-required")


def configure(user: User, instance_id: str, body: SshConfigIn) -> SshConfigOut:
    key_text = body.private_key.get_secret_value()
    try:
        fingerprint = client.key_fingerprint(client.parse_private_key(key_text))
        if body.host_key:
            client.parse_host_key(body.host_key)
    except client.SshKeyInvalid as exc:
        raise Problem(422, "Unprocessable Content", exc.detail, code="invalid-ssh-key") from None
    with get_db().service() as tx:
        inst = tx.one("ssh_owner_instance", instance_id=instance_id, user_id=user.id)
        if inst is None:
            raise not_found("instance")
        if inst["status"] in ("destroying", "destroyed"):
            raise conflict(f"The instance is {inst['status']}.", code="instance-gone")
        if not plan_limits(inst["plan"], inst["plan_status"]).ssh:
            raise _plan_required()
        existing = tx.one("ssh_config_lock", instance_id=instance_id)
        if existing is not None:
            secret_id = existing["secret_id"]
            tx.execute("ssh_vault_update", id=secret_id, secret=key_text)
        else:
            secret_id = tx.scalar("vault_create_secret", secret=key_text,
                                  secret_name=f"instance-ssh:{instance_id}:{secrets.token_hex(4)}",
                                  description="OpenAgents SSH private key")
        row = tx.one("ssh_config_upsert", instance_id=instance_id, user_id=user.id, secret_id=secret_id,
                     host=body.host, port=body.port, username=body.user, host_key=body.host_key,
                     allow=list(body.allow), deny=list(body.deny))
        if inst["gateway_token"]:
            from shared.security.machine_auth import token_sha256

            tx.execute("gateway_token_hash_upsert", instance_id=instance_id,
                       token_sha256=token_sha256(str(inst["gateway_token"])))
        audit.record(tx, user.id, "ssh.configured", f"instance:{instance_id}",
                     {"host": body.host, "port": body.port, "user": body.user, "allow": len(body.allow),
                      "deny": len(body.deny), "replaced": existing is not None, "key_fingerprint": fingerprint})
    assert row is not None
    return SshConfigOut(key_fingerprint=fingerprint, **_out(row))


def revoke(user: User, instance_id: str) -> None:
    with get_db().service() as tx:
        row = tx.one("ssh_config_delete", instance_id=instance_id, user_id=user.id)
        if row is None:
            raise not_found("SSH configuration")
        tx.execute("vault_delete_secret", id=row["secret_id"])
        audit.record(tx, user.id, "ssh.revoked", f"instance:{instance_id}", {"host": row["host"]})


def _out(row: dict[str, Any]) -> dict[str, Any]:
    return {"instance_id": row["instance_id"], "host": row["host"], "port": row["port"], "user": row["username"],
            "host_key": row["host_key"], "allow": row["allow"], "deny": row["deny"],
            "created_at": row["created_at"], "updated_at": row["updated_at"]}


def execute(instance_id: str, req: ExecRequest) -> ExecResult:
    """Decide, record, run, record (see the module docstring). Refusals raise their problem after
    their audit row has committed."""
    refusal: Problem | None = None
    with get_db().service() as tx:
        cfg = tx.one("ssh_exec_config", instance_id=instance_id)
        if cfg is None:
            owner = tx.scalar("canary_instance_owner", instance_id=instance_id)
            outcome, allowed, detail = "unavailable", False, "SSH is not configured for this instance"
            refusal = Problem(404, "Not Found", "SSH is not configured for this instance.", code="ssh-not-configured")
        else:
            owner = cfg["user_id"]
            window = tx.one("ssh_rate_window", instance_id=instance_id, window_s=RATE_WINDOW_S)
            assert window is not None
            if not cfg["enabled"] or not plan_limits(cfg["plan"], cfg["plan_status"]).ssh:
                outcome, allowed, detail = "unavailable", False, "the owner's plan does not include SSH"
                refusal = _plan_required()
            elif int(window["calls"]) >= RATE_LIMIT:
                outcome, allowed = "rate_limited", False
                detail = f"more than {RATE_LIMIT} commands in {RATE_WINDOW_S} s"
                refusal = too_many_requests(max(1, math.ceil(float(window["retry_after_s"]))))
            else:
                decision = policy.decide(req.command, list(cfg["allow"]), list(cfg["deny"]))
                allowed, detail = decision.allowed, decision.reason
                outcome = "running" if decision.allowed else "denied"
                if not decision.allowed:
                    refusal = Problem(403, "Forbidden", f"The command was refused: {decision.reason}.",
                                      code="ssh-command-denied")
        audit_id = int(tx.scalar("ssh_audit_insert", instance_id=instance_id, user_id=owner, command=req.command,
                                 allowed=allowed, outcome=outcome, detail=detail[:500]))
    if refusal is not None:
        raise refusal
    assert cfg is not None
    target = client.SshTarget(cfg["host"], int(cfg["port"]), cfg["username"], str(cfg["private_key"] or ""),
                              cfg["host_key"])
    try:
        run = client.run_command(target, req.command, timeout_s=req.timeout_s,
                                 allow_private=not get_settings().is_production)
    except client.SshError as exc:
        _finish(audit_id, outcome="failed", detail=exc.detail)
        status = 504 if isinstance(exc, client.SshTimeout) else 403 if isinstance(exc, client.SshHostRefused) else 502
        title = {504: "Gateway Timeout", 403: "Forbidden"}.get(status, "Bad Gateway")
        raise Problem(status, title, f"The command did not run to completion: {exc.detail}.",
                      code="ssh-failed", audit_id=audit_id) from None
    output = clean_message(run.stdout + run.stderr)
    _finish(audit_id, outcome="completed", exit_code=run.exit_code, output=output[:AUDIT_OUTPUT_CHARS],
            truncated=run.truncated or len(output) > AUDIT_OUTPUT_CHARS,
            detail=f"ended by signal {run.exit_signal}" if run.exit_signal else "",
            host_key=run.host_key or None, secret_id=str(cfg["secret_id"]))
    return ExecResult(audit_id=audit_id, exit_code=run.exit_code, exit_signal=run.exit_signal, stdout=run.stdout,
                      stderr=run.stderr, truncated=run.truncated, duration_ms=run.duration_ms)


def _finish(audit_id: int, *, outcome: str, exit_code: int | None = None, output: str = "", truncated: bool = False,
            detail: str = "", host_key: str | None = None, secret_id: str | None = None) -> None:
    with get_db().service() as tx:
        instance_id = tx.scalar("ssh_audit_finish", id=audit_id, outcome=outcome, exit_code=exit_code, output=output,
                                truncated=truncated, detail=detail[:500])
        if host_key and secret_id and instance_id:
            # Trust on first use: the key the server showed is the one every later call must see.
            tx.execute("ssh_pin_host_key", instance_id=instance_id, secret_id=secret_id, host_key=host_key[:8192])
