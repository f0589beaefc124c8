"""The instance API's logic: hire, read, rename, and asking for lifecycle actions.

Reads and renames act as the user (RLS decides what they see). Hiring and actions run as the service
role, scoped to the user's id explicitly, because lifecycle state is the server's to write; each
checks the action against the allowed-from set under a row lock and defers the job in the same
transaction, so the request and its job commit together. The jobs do the rest (see `jobs/lifecycle.py`).
"""

from __future__ import annotations

from shared import audit, jobs
from shared.auth import User
from shared.data import acting_as, get_db
from shared.lifecycle.errors import IllegalTransition, InstanceNotFound
from shared.lifecycle.models import HireRequest, Instance, InstancePatch, InstanceQuery, time_cursor
from shared.lifecycle.states import ACTION_TRANSITIONS, DESTROY, Action
from shared.lifecycle.store import transition_in
from shared.llm.models import SpendCap
from shared.pagination import Page, page_of
from shared.problems import not_found


def _view(user: User, instance_id: str) -> Instance:
    with acting_as(user) as tx:
        row = tx.one("instance_view", id=instance_id)
    if row is None:
        raise InstanceNotFound()
    return Instance.model_validate(row)


def hire(user: User, body: HireRequest) -> tuple[Instance, bool]:
    """(instance, created): a new instance in `provisioning`/`queued` with its provision job, or the
    user's live instance of that agent."""
    with get_db().service() as tx:
        agent = tx.one("lifecycle_agent_for_hire", slug=body.agent)
        if agent is None:
            raise not_found("agent")
        new_id = tx.scalar("lifecycle_hire_insert", user_id=user.id, agent_id=agent["id"],
                           version_id=agent["current_version_id"])
        if new_id is not None:
            jobs.defer(tx, jobs.PROVISION_INSTANCE, instance_id=str(new_id))
            audit.record(tx, user.id, "instance.hired", f"instance:{new_id}", {"agent": body.agent})
            instance_id, created = str(new_id), True
        else:
            instance_id, created = str(tx.scalar("lifecycle_live_instance", user_id=user.id, agent_id=agent["id"])), False
    return _view(user, instance_id), created


def get_instance(user: User, instance_id: str) -> Instance:
    """`instance_id` is a canonical UUID (the route's `{instance_id:uuid}` parameter)."""
    return _view(user, instance_id)


def list_instances(user: User, query: InstanceQuery) -> Page[Instance]:
    after = time_cursor(query.cursor)
    with acting_as(user) as tx:
        rows = tx.all("instances_list", user_id=user.id, include_destroyed=query.include_destroyed,
                      after_created=after["created_at"] if after else None, after_id=after["id"] if after else None,
                      limit=query.limit + 1)
    return Page[Instance](**page_of(rows, query.limit, ("created_at", "id"), Instance))


def patch_instance(user: User, instance_id: str, body: InstancePatch) -> Instance:
    fields = body.model_fields_set
    if "version_pin" in fields:  # first: a pin it cannot run (422) changes nothing else
        from shared.platform import rollout

        rollout.set_pin(user.id, instance_id, body.version_pin)
    with acting_as(user) as tx:
        if tx.one("instance_view", id=instance_id) is None:
            raise InstanceNotFound()
        changed = tx.scalar("instance_patch", id=instance_id, display_name=body.display_name,
                            set_model="model_preference" in fields, model_preference=body.model_preference)
    if changed is None:
        raise IllegalTransition("rename", "destroyed")
    if "spend_cap" in fields:
        _set_spend_cap(user, instance_id, body.spend_cap or SpendCap())
    return _view(user, instance_id)


def _set_spend_cap(user: User, instance_id: str, cap: SpendCap) -> None:
    # The LLM proxy reads the caps before every call (shared/llm/budget.py); audited with the change.
    with get_db().service() as tx:
        tx.execute("instance_set_spend_cap", id=instance_id, user_id=user.id, hourly=cap.hourly, daily=cap.daily)
        audit.record(tx, user.id, "caps.changed", f"instance:{instance_id}", cap.model_dump())


def request_action(user: User, instance_id: str, action: Action) -> Instance:
    """Check the action against the instance's status and defer its job (202); 409 if illegal."""
    t = ACTION_TRANSITIONS[action]
    with get_db().service() as tx:
        row = tx.one("instance_status_of", id=instance_id, user_id=user.id)
        if row is None:
            raise InstanceNotFound()
        if row["status"] == "destroying" and action == "destroy":
            pass  # already on its way: asking again is harmless
        elif not t.permits(row["status"]):
            raise IllegalTransition(action, row["status"], t.allowed)
        elif action == "destroy":
            transition_in(tx, instance_id, DESTROY)
            audit.record(tx, user.id, "instance.destroy_requested", f"instance:{instance_id}")
        jobs.defer(tx, jobs.INSTANCE_ACTIONS[action], instance_id=instance_id)
    return _view(user, instance_id)
