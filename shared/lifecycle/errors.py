"""What the lifecycle raises. Callers (routes, chat, relays, jobs) catch by meaning:

    LifecycleError                    anything from shared.lifecycle
    ├── InstanceNotFound              no such instance (or not the caller's): a 404 problem
    ├── IllegalTransition             the action is not allowed from the current status: a 409 problem
    ├── InstanceBusy                  another lifecycle operation holds the instance's lock too long
    ├── InstanceUnavailable           the machine could not be brought up (wake/start failed): a 503 problem
    └── ProvisionFailed               provisioning gave up (stage + readable reason); never retried

The first four are `shared.problems.Problem`s too, so a route can let them through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.problems import Problem


class LifecycleError(Exception):
    """Base class of every lifecycle error."""


class InstanceNotFound(LifecycleError, Problem):
    def __init__(self) -> None:
        Problem.__init__(self, 404, "Not Found", "No such instance.", code="not-found")


class IllegalTransition(LifecycleError, Problem):
    def __init__(self, action: str, status: str, allowed: Iterable[str] = ()) -> None:
        allowed_list = sorted(allowed)
        detail = f"Cannot {action} an instance that is {status}."
        if allowed_list:
            detail += f" Allowed from: {', '.join(allowed_list)}."
        Problem.__init__(self, 409, "Conflict", detail, code="illegal-transition", action=action, status_now=status)
        self.action = action
        self.status_now = status


class InstanceBusy(LifecycleError, Problem):
    def __init__(self, detail: str = "Another operation on this instance is still running; try again shortly.") -> None:
        Problem.__init__(self, 409, "Conflict", detail, code="instance-busy")


class InstanceUnavailable(LifecycleError, Problem):
    def __init__(self, detail: str) -> None:
        Problem.__init__(self, 503, "Service Unavailable", detail, code="instance-unavailable")


class ProvisionFailed(LifecycleError):
    """Provisioning cannot succeed by retrying (e.g. no capacity anywhere, the machine will not start)."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"provisioning failed at stage {stage!r}: {reason}")
        self.stage = stage
        self.reason = reason


class InstanceChanged(LifecycleError):
    """The row moved on while a job worked on it (e.g. destroy was asked mid-provision): stop quietly."""
