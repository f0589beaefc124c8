"""One request to the Machines API, with the retry policy (CONTRACTS A.1).

- 408, 429, 5xx and network failures are transient: retried with exponential backoff and jitter,
  at least as long as `Retry-After` asks (capped).
- Anything else non-2xx is final and raised at once as the matching `FlyAPIError` subclass;
  capacity errors in particular are never retried here (the caller picks another region).
- Some transient failures are *ambiguous* for a create: the request may have taken effect (408, 5xx,
  a read timeout or a dropped connection after sending). `Attempt.ambiguous` tells the caller, which
  looks the resource up before sending the create again.

The token only ever lives in the client's default headers; nothing here logs headers.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from shared.fly.errors import FlyTimeout, FlyTransientError, error_for_status

log = logging.getLogger("shared.fly")

LEASE_NONCE_HEADER = "fly-machine-lease-nonce"
T = TypeVar("T")


class RetryableFailure(Exception):
    """A transient failure of one attempt; carries the error to raise if the retries run out."""

    def __init__(self, error: FlyTransientError, *, retry_after: float | None, ambiguous: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after
        self.ambiguous = ambiguous


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 4  # attempts after the first
    backoff_initial: float = 0.2
    backoff_max: float = 5.0
    max_retry_after: float = 30.0


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_body(response: httpx.Response) -> tuple[str, str | None]:
    """Fly's `{error, status?}`, or the start of whatever else came back."""
    try:
        data = response.json()
    except ValueError:
        return (response.text[:500] or response.reason_phrase), None
    if isinstance(data, dict):
        status = data.get("status")
        return str(data.get("error") or data.get("message") or data)[:500], status if isinstance(status, str) else None
    return str(data)[:500], None


class FlyHTTP:
    def __init__(
        self,
        client: httpx.Client,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.policy = policy
        self._sleep = sleep
        self._backoff = wait_exponential_jitter(
            multiplier=policy.backoff_initial, max=policy.backoff_max, jitter=policy.backoff_initial
        )

    # --- retry loop -----------------------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        delay = float(self._backoff(state))
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableFailure) and exc.retry_after is not None:
            delay = max(delay, min(exc.retry_after, self.policy.max_retry_after))
        return delay

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "fly request failed, retrying",
            extra={"fields": {"attempt": state.attempt_number, "error": str(exc), "sleep_s": round(state.upcoming_sleep, 3)}},
        )

    def retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.policy.retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(RetryableFailure),
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )

    def run(self, attempt: Callable[[], T]) -> T:
        """Call `attempt` until it stops raising `RetryableFailure` or the retries run out."""
        try:
            for try_ in self.retrying():
                with try_:
                    return attempt()
        except RetryableFailure as f:
            raise f.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    # --- one attempt ----------------------------------------------------------------------------

    def once(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | float | None = None,
        retry_408: bool = True,
    ) -> httpx.Response:
        """One HTTP attempt: the 2xx response, or `RetryableFailure`, or a final `FlyAPIError`."""
        started = time.monotonic()
        kwargs: dict[str, Any] = {}
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            response = self.client.request(method, path, json=json, params=params, headers=headers, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            # Never reached the server: safe to resend anything.
            err = FlyTransientError(None, f"connection failed: {type(e).__name__}", method=method, path=path)
            raise RetryableFailure(err, retry_after=None, ambiguous=False) from e
        except httpx.TimeoutException as e:
            err = FlyTimeout(None, f"no answer in time: {type(e).__name__}", method=method, path=path)
            raise RetryableFailure(err, retry_after=None, ambiguous=True) from e
        except httpx.TransportError as e:
            err = FlyTransientError(None, f"connection lost: {type(e).__name__}", method=method, path=path)
            raise RetryableFailure(err, retry_after=None, ambiguous=True) from e
        log.debug(
            "fly request",
            extra={
                "fields": {
                    "method": method,
                    "path": path,
                    "status": response.status_code,
                    "ms": round((time.monotonic() - started) * 1000, 1),
                }
            },
        )
        if response.is_success:
            return response
        message, fly_status = error_body(response)
        status = response.status_code
        request_id = response.headers.get("fly-request-id")
        error = error_for_status(status, message, fly_status, request_id=request_id, method=method, path=path)
        transient = status == 429 or status >= 500 or (status == 408 and retry_408)
        if transient and isinstance(error, FlyTransientError):
            raise RetryableFailure(
                error,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                ambiguous=status != 429,
            )
        raise error

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.run(lambda: self.once(method, path, **kwargs))

