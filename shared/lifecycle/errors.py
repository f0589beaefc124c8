"""What the lifecycle raises, and how a job decides what to do about it. Callers (routes, chat,
relays, jobs) catch by meaning:

    LifecycleError                    anything from shared.lifecycle
    ├── InstanceNotFound              no such instance (or not the caller's): a 404 problem
    ├── IllegalTransition             the action is not allowed from the current status: a 409 problem
    ├── InstanceBusy                  another lifecycle operation holds the instance's lock too long (retryable)
    ├── InstanceUnavailable           the machine could not be brought up (wake/start failed): a 503 problem
    ├── InstanceChanged               the row moved on while a job worked on it: the job stops quietly
    ├── ProvisionFailed               provisioning gave up (stage + readable reason); never retried
    ├── NoCapacity                    no region had room for the volume and machine (retryable)
    ├── MachineNotReady               the machine did not get to `started` + bridge ready in time (retryable)
    ├── BundleNotPushed               the agent's files did not reach the bridge (retryable)
    ├── BundleRejected                the bridge refused the agent's files (4xx): fix the version, don't retry
    └── TurnStreaming                 a turn is streaming: the update job tries again a little later

The first four are `shared.problems.Problem`s too, so a route can let them through unchanged.

    retryable(exc)   worth another attempt later: the retryable ones above, Fly's transient errors
                     and conflicts (`shared.fly.errors`), network errors, a lost database connection
    reason_of(exc)   a sentence for the user about a final failure, without internals

Fly's own exception tree is in `shared.fly.errors`; it is imported only when a failure is judged, so
the API's cold start does not load the Fly client.
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


class InstanceChanged(LifecycleError):
    """The row moved on while a job worked on it (e.g. destroy was asked mid-provision): stop quietly."""


class ProvisionFailed(LifecycleError):
    """Provisioning cannot succeed by retrying (e.g. no capacity anywhere, the machine will not start)."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"provisioning failed at stage {stage!r}: {reason}")
        self.stage = stage
        self.reason = reason


class NoCapacity(LifecycleError):
    def __init__(self, regions: list[str]) -> None:
        super().__init__(f"no capacity for the machine in {', '.join(regions)}")
        self.regions = regions


class MachineNotReady(LifecycleError):
    """The machine did not get to `started` + bridge ready in time (worth retrying)."""


class BundleNotPushed(LifecycleError):
    """The bundle did not reach the bridge (proxy or bridge failure): worth retrying."""


class BundleRejected(LifecycleError):
    """The bridge refused the bundle (4xx): the version's files need fixing, not another attempt."""


class TurnStreaming(LifecycleError):
    """A turn is streaming on the instance: try the update again later."""


def retryable(exc: BaseException) -> bool:
    """Worth another attempt later (the job's retry strategy decides when, and when to give up)."""
    import httpx
    from psycopg import OperationalError

    from shared.fly.errors import FlyConflict, FlyTransientError

    return isinstance(exc, FlyTransientError | FlyConflict | NoCapacity | MachineNotReady | InstanceBusy
                      | BundleNotPushed | httpx.HTTPError | OperationalError)


def reason_of(exc: BaseException) -> str:
    """A sentence for the user: what went wrong, without internals."""
    from shared.fly.errors import FlyAPIError, FlyTransientError

    if isinstance(exc, ProvisionFailed):
        return exc.reason
    if isinstance(exc, NoCapacity | MachineNotReady | BundleNotPushed | BundleRejected):
        return str(exc)
    if isinstance(exc, FlyTransientError):
        return f"Fly.io kept failing ({exc.status or 'no answer'}) and retries ran out"
    if isinstance(exc, FlyAPIError):
        return f"Fly.io refused the request ({exc.status}): {exc.message[:200]}"
    return "an internal error"
