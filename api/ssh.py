"""SSH access (Power plan): owners configure, revoke and read the audit trail; agent machines run
commands through the platform with their gateway token (ARCHITECTURE §6, shared.ssh)."""

from __future__ import annotations

from flask import Response, request

from shared.pagination import Page
from shared.security.machine_auth import machine_instance_id  # registers auth="gateway"
from shared.ssh import access, audit_log
from shared.ssh.models import ExecRequest, ExecResult, SshAuditEntry, SshAuditQuery, SshConfigIn, SshConfigOut
from shared.web import RequestContext, Router, create_app

router = Router("ssh")


@router.put("/api/instances/{instance_id:uuid}/ssh", body=SshConfigIn, response=SshConfigOut, errors=(403, 404, 409))
def put_ssh(ctx: RequestContext, instance_id: str, body: SshConfigIn) -> SshConfigOut:
    """Configure SSH access for an instance (Power plan). The private key goes to Vault and is never returned."""
    return access.configure(ctx.user, instance_id, body)


@router.delete("/api/instances/{instance_id:uuid}/ssh", status=204, errors=(404,))
def delete_ssh(ctx: RequestContext, instance_id: str) -> Response:
    """Revoke SSH access at once: the key is deleted and the next command is refused."""
    access.revoke(ctx.user, instance_id)
    return Response(status=204)


@router.get("/api/instances/{instance_id:uuid}/ssh/audit", query=SshAuditQuery, response=Page[SshAuditEntry],
            also=("text/csv",))
def ssh_audit(ctx: RequestContext, instance_id: str, query: SshAuditQuery) -> Page[SshAuditEntry] | Response:
    """Every SSH command of the instance, newest first; `?format=csv` (or `Accept: text/csv`) exports it all."""
    wants_csv = query.format == "csv" or request.accept_mimetypes.best_match(
        ["application/json", "text/csv"]) == "text/csv"
    if wants_csv:
        return Response(audit_log.export_csv(ctx.user, instance_id), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="ssh-audit-{instance_id}.csv"'})
    return audit_log.page(ctx.user, instance_id, query)


@router.post("/api/machine/ssh/exec", auth="gateway", body=ExecRequest, response=ExecResult,
             errors=(403, 404, 429, 502, 504))
def ssh_exec(ctx: RequestContext, body: ExecRequest) -> ExecResult:
    """Run one command on the owner's host (agent machines; gateway token). Checked against the allow/deny
    lists, at most 10 a minute, and recorded in the instance's SSH audit log."""
    from shared.problems import forbidden

    instance_id = machine_instance_id()
    if body.instance_id is not None and str(body.instance_id) != instance_id:
        raise forbidden("The token belongs to another instance.")
    return access.execute(instance_id, body)


app = create_app(__name__, [router])
