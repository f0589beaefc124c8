"""Rows the SSH-access and account tests start from: a user on a plan, an instance of theirs with a
real gateway token in Vault (made by `shared.lifecycle.gateway`, as provisioning makes it), and the
SSH config body that points at a `LocalSshServer`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tests.support.harness import CANARIES, RECORDER

SSH_KEY = CANARIES["SSH_TEST_PRIVATE_KEY"]


@dataclass
class MachineInstance:
    id: str
    gateway_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.gateway_token}"}


def set_plan(db: Any, user_id: str, plan: str, status: str = "active") -> None:
    with db.service() as tx:
        tx.sql("update profiles set plan = %(p)s::plan_tier, plan_status = %(s)s::plan_status where id = %(u)s",
               {"p": plan, "s": status, "u": user_id})


def machine_instance(db: Any, user_id: str, *, status: str = "running") -> MachineInstance:
    """An instance of a fresh agent of this user's, with its gateway token (registered as a canary)."""
    from shared.lifecycle import gateway

    with db.service() as tx:
        agent = tx.sql("insert into agents (creator_id, slug, name, category, status, published_at)"
                       " values (%(u)s, %(s)s, 'SSH test agent', 'test', 'published', now()) returning id",
                       {"u": user_id, "s": f"ssh-{uuid.uuid4().hex[:12]}"}).fetchone()["id"]
        instance = tx.sql("insert into agent_instances (user_id, agent_id, status, provision_stage)"
                          " values (%(u)s, %(a)s, %(st)s::instance_status, 'ready') returning id",
                          {"u": user_id, "a": agent, "st": status}).fetchone()["id"]
    token = gateway.ensure_token(str(instance))
    RECORDER.secret(token)
    return MachineInstance(id=str(instance), gateway_token=token)


def ssh_body(server: Any, *, allow: list[str] | None = None, deny: list[str] | None = None,
             host_key: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"host": "127.0.0.1", "port": server.port, "user": "agent", "private_key": SSH_KEY,
                            "allow": allow or ["*"], "deny": deny or []}
    if host_key:
        body["host_key"] = host_key
    return body
