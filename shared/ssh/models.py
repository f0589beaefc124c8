"""SSH access API shapes: the config an owner puts, the command a machine sends, the audit rows."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import ConfigDict, Field, SecretStr

from shared.models import Model
from shared.pagination import PageQuery

Pattern = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$")]


class SshConfigIn(Model):
    model_config = ConfigDict(extra="forbid")
    host: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9\[][A-Za-z0-9.:\[\]-]*$",
                      description="A host name or IP address of your server.")
    port: int = Field(default=22, ge=1, le=65535)
    user: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._][A-Za-z0-9._@-]*$")
    private_key: SecretStr = Field(min_length=1, max_length=16384, json_schema_extra={"writeOnly": True},
                                   description="An unencrypted private key (OpenSSH, PKCS#8 or PEM). Kept in "
                                               "Vault; never returned.")
    host_key: str | None = Field(default=None, min_length=1, max_length=8192,
                                 description="The server's public host key (`ssh-ed25519 AAAA…`). Left out, "
                                             "the key the server shows on the first command is pinned.")
    allow: list[Pattern] = Field(min_length=1, max_length=50,
                                 description="Glob patterns a command must match (`*` allows every command).")
    deny: list[Pattern] = Field(default_factory=list, max_length=50,
                                description="Glob patterns that refuse a command even when allowed (deny wins).")


class SshConfigOut(Model):
    instance_id: UUID
    host: str
    port: int
    user: str
    host_key: str | None = Field(description="The pinned server host key, once known.")
    allow: list[str]
    deny: list[str]
    key_fingerprint: str | None = Field(default=None,
                                        description="SHA-256 fingerprint of the key just stored (PUT only).")
    created_at: datetime
    updated_at: datetime


class ExecRequest(Model):
    model_config = ConfigDict(extra="forbid")
    instance_id: UUID | None = Field(default=None,
                                     description="The calling instance (optional: the token says which it is).")
    command: str = Field(min_length=1, max_length=4096)
    timeout_s: int = Field(default=30, ge=1, le=45, description="How long the command may run.")


class ExecResult(Model):
    audit_id: int
    exit_code: int | None = Field(description="Null when the command ended by a signal.")
    exit_signal: str | None
    stdout: str
    stderr: str
    truncated: bool = Field(description="Output past 64 KiB was cut and the channel closed.")
    duration_ms: int


SshOutcome = Literal["running", "completed", "failed", "denied", "rate_limited", "unavailable"]


class SshAuditEntry(Model):
    id: int
    instance_id: UUID
    command: str
    outcome: SshOutcome
    allowed: bool
    exit_code: int | None
    output: str = Field(description="The first 4,000 characters of the output (stdout, then stderr).")
    output_truncated: bool
    detail: str
    created_at: datetime
    finished_at: datetime | None


class SshAuditQuery(PageQuery):
    format: Literal["json", "csv"] = Field(default="json",
                                           description="`csv` (or `Accept: text/csv`) exports the whole log.")
