"""The lifecycle's API shapes (what `/api/instances…` and `/api/notifications` accept and answer)."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import ConfigDict, Field

from shared.llm.models import SpendCap
from shared.models import Model
from shared.pagination import PageQuery, decode_cursor
from shared.problems import bad_request

InstanceStatus = Literal["provisioning", "running", "suspended", "stopped", "error", "destroying", "destroyed"]
ProvisionStage = Literal["queued", "app", "volume", "machine", "starting", "ready"]


class HireRequest(Model):
    model_config = ConfigDict(extra="forbid")
    agent: str = Field(max_length=64, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$",
                       description="The agent's slug.")


class InstancePatch(Model):
    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(default=None, max_length=80)
    model_preference: str | None = Field(default=None, min_length=1, max_length=100,
                                         description="Send null to go back to the agent's default model.")
    spend_cap: SpendCap | None = Field(default=None, description="Credits of model calls per hour and per day "
                                       "(UTC) for this instance; null (or a null window) is the plan's default.")
    version_pin: UUID | None = Field(default=None, description="Keep this instance on a published version of its "
                                     "agent (rollouts skip it); null follows the agent's current version.")


class InstanceQuery(PageQuery):
    include_destroyed: bool = Field(default=False, description="Also list destroyed instances.")


class Instance(Model):
    id: UUID
    agent_id: UUID
    agent_slug: str | None
    agent_name: str | None
    version_id: UUID | None
    version_pin: UUID | None = None
    display_name: str
    model_preference: str | None
    status: InstanceStatus
    provision_stage: ProvisionStage
    error_message: str | None
    region: str | None
    last_active_at: datetime
    created_at: datetime
    updated_at: datetime
    destroyed_at: datetime | None
    spend_cap: SpendCap = Field(default_factory=SpendCap, description="This instance's own spend caps "
                                "(a null window: the plan's default applies).")


class NotificationQuery(PageQuery):
    unread: bool = Field(default=False, description="Only notifications not yet read.")


class Notification(Model):
    id: UUID
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    read_at: datetime | None
    created_at: datetime


def time_cursor(cursor: str | None) -> dict[str, Any] | None:
    """A `(created_at, id)` keyset cursor, with both values checked (they go into SQL casts)."""
    after = decode_cursor(cursor, ("created_at", "id"))
    if after is None:
        return None
    try:
        datetime.fromisoformat(str(after["created_at"]))
        UUID(str(after["id"]))
    except ValueError:
        raise bad_request("The cursor is not valid.", code="invalid-cursor") from None
    return after
