"""Instances: hire an agent, read and rename your instances, and start/stop/suspend/restart/destroy
them (ARCHITECTURE §4, §6). Actions answer 202 and are carried out by lifecycle jobs."""

from __future__ import annotations

from shared import ratelimit
from shared.lifecycle import instances
from shared.lifecycle.models import HireRequest, Instance, InstancePatch, InstanceQuery
from shared.pagination import Page
from shared.web import RequestContext, Router, create_app

router = Router("instances")


@router.post("/api/instances", body=HireRequest, response=Instance, status=202, errors=(404,), rate_limit=ratelimit.HIRE,
             summary="Hire an agent (202 with the new instance; 200 with the one you already have)")
def hire(ctx: RequestContext, body: HireRequest) -> tuple[Instance, int]:
    instance, created = instances.hire(ctx.user, body)
    return instance, 202 if created else 200


@router.get("/api/instances", query=InstanceQuery, response=Page[Instance])
def list_instances(ctx: RequestContext, query: InstanceQuery) -> Page[Instance]:
    """Your instances, newest first."""
    return instances.list_instances(ctx.user, query)


@router.get("/api/instances/{instance_id:uuid}", response=Instance, errors=(404,))
def get_instance(ctx: RequestContext, instance_id: str) -> Instance:
    """One instance, with its status, provisioning stage and error."""
    return instances.get_instance(ctx.user, instance_id)


@router.patch("/api/instances/{instance_id:uuid}", body=InstancePatch, response=Instance, errors=(404, 409))
def patch_instance(ctx: RequestContext, instance_id: str, body: InstancePatch) -> Instance:
    """Rename an instance, choose its model, or pin it to a version of its agent (`version_pin`)."""
    return instances.patch_instance(ctx.user, instance_id, body)


@router.delete("/api/instances/{instance_id:uuid}", response=Instance, status=202, errors=(404, 409))
def destroy_instance(ctx: RequestContext, instance_id: str) -> Instance:
    """Destroy an instance (its sessions and messages are kept)."""
    return instances.request_action(ctx.user, instance_id, "destroy")


def _action(name: str) -> None:
    def handler(ctx: RequestContext, instance_id: str) -> Instance:
        return instances.request_action(ctx.user, instance_id, name)  # type: ignore[arg-type]

    handler.__name__ = f"{name}_instance"
    router.post(f"/api/instances/{{instance_id:uuid}}/{name}", response=Instance, status=202, errors=(404, 409),
                summary=f"{name.capitalize()} an instance (carried out by a job)")(handler)


for _name in ("start", "stop", "suspend", "restart"):
    _action(_name)


app = create_app(__name__, [router])
