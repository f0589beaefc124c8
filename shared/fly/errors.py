"""Exceptions raised by the Fly Machines client.

Callers catch by meaning, never by parsing messages::

    FlyError                      anything this package raises
    └── FlyAPIError               a request failed; .status (HTTP code, None when no response arrived),
        │                         .message (Fly's `error` text), .fly_status (Fly's `status`, e.g.
        │                         "insufficient_capacity"), .request_id (`fly-request-id`, if any)
        ├── FlyUnauthorized       401/403: the token is wrong or lacks access (no retry)
        ├── FlyNotFound           404: app, machine, volume, lease or metadata key does not exist
        ├── FlyConflict           409: e.g. the machine is leased by someone else
        ├── FlyPreconditionFailed 412: e.g. metadata `machine_version` is stale, machine in wrong state
        ├── FlyCapacityError      no capacity where asked (`status: "insufficient_capacity"`, or a
        │                         409/412/422 saying so); raised at once so callers can try another
        │                         region; .region says where
        └── FlyTransientError     408/429/5xx or a network failure that outlived the retries
            └── FlyTimeout        408, or a read timeout: the server gave up (also `wait()` when the
                                  machine did not reach the state in time)

Messages never contain the API token or request headers.
"""

from __future__ import annotations


class FlyError(Exception):
    """Base class of every error from `shared.fly`."""


class FlyAPIError(FlyError):
    """A Machines API request failed."""

    def __init__(
        self,
        status: int | None,
        message: str,
        fly_status: str | None = None,
        *,
        request_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.fly_status = fly_status
        self.request_id = request_id
        self.method = method
        self.path = path
        where = f"{method} {path}: " if method and path else ""
        code = f"{status}" if status is not None else "no response"
        tag = f" [{fly_status}]" if fly_status else ""
        super().__init__(f"{where}{code}{tag} {message}".strip())


class FlyUnauthorized(FlyAPIError):
    """401/403."""


class FlyNotFound(FlyAPIError):
    """404."""


class FlyConflict(FlyAPIError):
    """409."""


class FlyPreconditionFailed(FlyAPIError):
    """412."""


class FlyCapacityError(FlyAPIError):
    """The region (or the volume's host) has no room for the machine or volume."""

    def __init__(
        self,
        status: int | None,
        message: str,
        fly_status: str | None = None,
        *,
        region: str | None = None,
        request_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(status, message, fly_status, request_id=request_id, method=method, path=path)
        self.region = region


class FlyTransientError(FlyAPIError):
    """Rate limited, server error or network failure, still failing after the retries."""


class FlyTimeout(FlyTransientError):
    """408 (or a read timeout): the operation did not finish in time; its effect is unknown."""


def error_for_status(
    status: int,
    message: str,
    fly_status: str | None,
    *,
    request_id: str | None = None,
    method: str | None = None,
    path: str | None = None,
) -> FlyAPIError:
    """The exception class that fits a non-transient error response."""
    if is_capacity_error(status, message, fly_status):
        return FlyCapacityError(status, message, fly_status, request_id=request_id, method=method, path=path)
    cls: type[FlyAPIError] = {
        401: FlyUnauthorized,
        403: FlyUnauthorized,
        404: FlyNotFound,
        408: FlyTimeout,
        409: FlyConflict,
        412: FlyPreconditionFailed,
    }.get(status, FlyAPIError)
    if cls is FlyAPIError and (status == 429 or status >= 500):
        cls = FlyTransientError
    return cls(status, message, fly_status, request_id=request_id, method=method, path=path)


_CAPACITY_PHRASES = ("insufficient_capacity", "capacity", "insufficient resources", "insufficient cpus", "insufficient memory")


def is_capacity_error(status: int, message: str, fly_status: str | None) -> bool:
    # Fly says so in `status`; older paths (and flyd's host-level refusals inside a 409) only say it
    # in prose, which is why the text is a fallback and only for the codes Fly uses for it.
    if fly_status in ("insufficient_capacity", "volume_placement_capacity"):
        return True
    if status in (409, 412, 422):
        text = message.lower()
        return any(p in text for p in _CAPACITY_PHRASES)
    return False
