"""A per-user cap on concurrent streams: live chat turns, resumes and session follows (issue 9).

Each open stream holds a lease (`private.stream_leases`, migration 20261201006001); a stream that
would take a user past `CHAT_STREAMS_PER_USER` is answered 429 `too-many-streams` with
`Retry-After`. The count lives in Postgres because serverless instances share no memory. A lease
expires FUNCTION_MAX_DURATION_S after it was taken — no stream outlives its function, so a function
that died mid-stream frees its slot by then — and is deleted as soon as its stream ends, which is
what `Leased` arranges for a streamed response body.

A chat turn takes its lease inside the transaction that opens the turn, after the credit hold: no
credits is the 402 it always was, and a 429 leaves no turn behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Literal

from shared.data import Tx, get_db
from shared.problems import Problem

log = logging.getLogger("openagents.chat")

StreamKind = Literal["chat", "resume", "follow"]


class StreamLease:
    __slots__ = ("id", "_released")

    def __init__(self, lease_id: str) -> None:
        self.id = lease_id
        self._released = False

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        try:
            get_db().service_send("stream_lease_release", lease_id=self.id)
        except Exception:
            log.warning("could not release a stream lease; it expires by itself", exc_info=True)


def too_many_streams(retry_after: int, cap: int) -> Problem:
    return Problem(429, "Too Many Requests",
                   f"You have {cap} streams open, the most at once; close one or retry in {retry_after} s.",
                   code="too-many-streams", headers={"Retry-After": str(retry_after)})


def acquire(tx: Tx, user_id: str, kind: StreamKind) -> StreamLease:
    """A lease for one more stream of this user, in `tx` (rolled back with it); 429 at the cap."""
    return queue_acquire(tx, user_id, kind)()


def queue_acquire(tx: Tx, user_id: str, kind: StreamKind) -> Callable[[], StreamLease]:
    """`acquire` in two steps, for a pipeline (`Tx.queue`): queues it, and returns what reads the
    result once the pipeline has run — the lease, or the 429."""
    from shared.config import get_settings

    s = get_settings()
    cur = tx.queue("stream_lease_acquire", user_id=user_id, kind=kind, cap=s.CHAT_STREAMS_PER_USER,
                   ttl_s=s.FUNCTION_MAX_DURATION_S)

    def result() -> StreamLease:
        row = cur.fetchone()
        assert row is not None
        if row["lease_id"] is None:
            raise too_many_streams(int(row["retry_after"]), s.CHAT_STREAMS_PER_USER)
        return StreamLease(str(row["lease_id"]))

    return result


def acquire_now(user_id: str, kind: StreamKind) -> StreamLease:
    with get_db().service() as tx:
        return acquire(tx, user_id, kind)


class Leased:
    """A streamed response body that gives its lease back when it ends or is closed (the WSGI server
    closes a body whose client went away)."""

    def __init__(self, lease: StreamLease | None, body: Iterator[bytes]) -> None:
        self._lease = lease
        self._body = body

    def __iter__(self) -> Leased:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._body)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            if self._lease is not None:
                self._lease.release()
