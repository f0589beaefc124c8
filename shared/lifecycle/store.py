"""The lifecycle's reads and writes (service role; jobs and trusted server paths only).

Each function is one short transaction, so progress is visible to the API at once and survives a
crash of the job that made it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any
from uuid import UUID

from shared import logs
from shared.data import Tx, get_db
from shared.lifecycle.errors import InstanceChanged
from shared.lifecycle.states import Transition
from shared.models import Model

log = logging.getLogger("openagents.lifecycle")


class InstanceRow(Model):
    """An instance as the lifecycle sees it (never sent to clients: it carries Fly ids)."""

    id: UUID
    user_id: UUID
    agent_id: UUID
    version_id: UUID | None
    status: str
    provision_stage: str
    fly_app: str | None
    fly_machine_id: str | None
    fly_volume_id: str | None
    region: str | None
    gateway_token_secret_id: UUID | None
    last_active_at: datetime
    health_failures: int
    error_message: str | None
    updated_at: datetime
    memory_mb: int

    @property
    def key(self) -> str:
        return str(self.id)


def valid_id(instance_id: str) -> bool:
    try:
        UUID(str(instance_id))
    except ValueError:
        return False
    return True


def load(instance_id: str) -> InstanceRow | None:
    if not valid_id(instance_id):
        return None
    with get_db().service() as tx:
        row = tx.one("instance_row", id=str(instance_id))
    return InstanceRow.model_validate(row) if row else None


def transition_in(tx: Tx, instance_id: str, t: Transition, *, error_message: str | None = None,
                  set_error: bool | None = None, reset_health: bool = False, touch: bool = False,
                  stage: str | None = None) -> bool:
    """The guarded update: True if it happened (the status was in `t.allowed`)."""
    row = tx.one("instance_transition", id=str(instance_id), to=t.to, allowed=sorted(t.allowed),
                 error_message=error_message,
                 set_error=set_error if set_error is not None else (error_message is not None or t.to != "error"),
                 reset_health=reset_health, touch=touch, stage=stage)
    if row is None:
        logs.log(log, logging.INFO, "transition skipped", instance_id=str(instance_id), transition=t.name)
        return False
    logs.log(log, logging.INFO, "transition", instance_id=str(instance_id), transition=t.name, status=t.to)
    return True


def transition(instance_id: str, t: Transition, **kwargs: Any) -> bool:
    with get_db().service() as tx:
        return transition_in(tx, instance_id, t, **kwargs)


def set_stage(instance_id: str, stage: str) -> None:
    """Advance `provision_stage`; `InstanceChanged` if the instance is no longer provisioning."""
    with get_db().service() as tx:
        if tx.one("instance_set_stage", id=str(instance_id), stage=stage) is None:
            raise InstanceChanged(f"instance {instance_id} is no longer provisioning")


def record(query: str, instance_id: str, **params: Any) -> None:
    """Record a Fly id the moment the resource exists (`instance_record_app|volume|machine`)."""
    with get_db().service() as tx:
        tx.execute(query, id=str(instance_id), **params)


def notify_in(tx: Tx, user_id: str, kind: str, title: str, body: str = "", **data: Any) -> None:
    tx.scalar("notification_insert", user_id=str(user_id), kind=kind, title=title[:200], body=body[:4000],
              data=json.dumps(data, default=str))


def touch(instance_id: str) -> None:
    with get_db().service() as tx:
        tx.execute("instance_touch", id=str(instance_id))
