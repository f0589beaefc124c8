"""One LISTEN connection per process, shared by every stream waiting for a turn's frames (issue 9).

Resume and follow streams used to open a connection each and LISTEN on it for as long as they ran
(50 follow streams of one user: 50 more connections). Now one daemon thread per process holds a
single autocommit connection — to `DATABASE_DIRECT_URL` when set, since Supabase's transaction
pooler cannot carry LISTEN — LISTENing on `realtime`, where `realtime.send` delivers locally, and
wakes the streams subscribed to each notification's topic (`session:{id}`):

    with subscribe(f"session:{session_id}") as wakeups:
        while …:
            read rows (a short pooled transaction, as the user)
            wakeups.wait(timeout)        # True: a frame of the topic was sent, look now

A notification is only a wake-up: its payload is never relayed (any role may `pg_notify`), streams
read what the streaming function wrote. Failure modes, and what they cost:
- the connection breaks: every subscriber is woken (so it reads whatever it may have missed) and the
  thread reconnects with backoff; once listening again it wakes them all once more, since
  notifications sent while it was away are gone;
- a payload that cannot be read wakes every subscriber;
- a lost wake-up (or a database that does not NOTIFY: hosted Realtime delivers broadcasts itself)
  costs a stream at most its poll interval (CHAT_STREAM_POLL_S): streams time their waits out and
  read anyway.

The thread starts with the first subscription and ends, closing its connection, IDLE_S after the
last one, so a warm but idle serverless instance holds no connection for it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from types import TracebackType

log = logging.getLogger("openagents.chat.listener")

CHANNEL = "realtime"
IDLE_S = 30.0
READY_WAIT_S = 2.0  # a first subscriber waits this long for LISTEN, so the next frame wakes it
_POLL_S = 1.0  # how often the thread looks up from the socket (idle shutdown, close)
_RETRY_MAX_S = 5.0


class Subscription:
    """One stream's interest in one topic."""

    __slots__ = ("_event", "_listener", "topic")

    def __init__(self, listener: Listener, topic: str) -> None:
        self.topic = topic
        self._listener = listener
        self._event = threading.Event()

    def wake(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """Blocks until woken or `timeout` passes; whether it was woken. Rows committed before the
        wake-up are visible to a read made after this returns."""
        woken = self._event.wait(max(0.0, timeout))
        self._event.clear()
        return woken

    def close(self) -> None:
        self._listener.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class Listener:
    def __init__(self, url: str, *, channel: str = CHANNEL, idle_s: float = IDLE_S) -> None:
        self.url = url
        self.channel = channel
        self.idle_s = idle_s
        self.connects = 0  # times it (re)connected: for tests and the follow benchmark
        self._lock = threading.Lock()
        self._topics: dict[str, set[Subscription]] = {}
        self._count = 0
        self._idle_since: float | None = None
        self._thread: threading.Thread | None = None
        self._listening = threading.Event()
        self._closed = False

    @property
    def subscribers(self) -> int:
        return self._count

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def subscribe(self, topic: str, *, ready_s: float = READY_WAIT_S) -> Subscription:
        sub = Subscription(self, topic)
        with self._lock:
            self._topics.setdefault(topic, set()).add(sub)
            self._count += 1
            self._idle_since = None
            if not self._closed and (self._thread is None or not self._thread.is_alive()):
                self._listening.clear()
                self._thread = threading.Thread(target=self._run, name="chat-listener", daemon=True)
                self._thread.start()
        self._listening.wait(ready_s)  # not fatal: the stream polls, and a reconnect wakes everyone
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            subs = self._topics.get(sub.topic)
            if subs is None or sub not in subs:
                return
            subs.discard(sub)
            if not subs:
                del self._topics[sub.topic]
            self._count -= 1
            if self._count == 0:
                self._idle_since = time.monotonic()

    def close(self) -> None:
        """Stops the thread (within about a second); subscribers left behind fall back on polling."""
        with self._lock:
            self._closed = True
        self._wake_all()

    # ---- the thread ------------------------------------------------------------------------------------

    def _run(self) -> None:
        import psycopg
        from psycopg import sql

        delay = 0.1
        while True:
            try:
                with psycopg.connect(self.url, autocommit=True, application_name="openagents-chat-listener") as conn:
                    conn.execute(sql.SQL("listen {}").format(sql.Identifier(self.channel)))
                    self.connects += 1
                    self._listening.set()
                    self._wake_all()  # whatever was sent before this LISTEN has no notification left
                    delay = 0.1
                    while not self._should_stop():
                        for note in conn.notifies(timeout=_POLL_S):
                            self._dispatch(note.payload)
                    return
            except (psycopg.Error, OSError) as exc:
                self._listening.clear()
                self._wake_all()
                with self._lock:
                    if self._count == 0 or self._closed:  # nobody waits: reconnect on the next subscription
                        self._thread = None
                        return
                log.warning("chat listener lost its connection; reconnecting", extra={"error": type(exc).__name__})
                time.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_S)

    def _should_stop(self) -> bool:
        """Decided under the lock, so a subscriber arriving at the same moment starts a new thread."""
        with self._lock:
            idle = (self._count == 0 and self._idle_since is not None
                    and time.monotonic() - self._idle_since >= self.idle_s)
            if self._closed or idle:
                self._thread = None
                self._listening.clear()
                return True
            return False

    def _dispatch(self, payload: str) -> None:
        try:
            topic = json.loads(payload).get("topic")
        except (ValueError, AttributeError):
            topic = None
        with self._lock:
            if isinstance(topic, str):
                subs = list(self._topics.get(topic, ()))
            else:
                subs = [s for group in self._topics.values() for s in group]
        for sub in subs:
            sub.wake()

    def _wake_all(self) -> None:
        with self._lock:
            subs = [s for group in self._topics.values() for s in group]
        for sub in subs:
            sub.wake()


_current: Listener | None = None
_current_lock = threading.Lock()


def listener() -> Listener:
    """The process's listener, for the database `shared.data.get_db()` points at now."""
    global _current
    from shared.data import get_db

    db = get_db()
    url = db.direct_url or db.url
    with _current_lock:
        if _current is None or _current.url != url:
            old, _current = _current, Listener(url)
            if old is not None:
                old.close()
        return _current


def subscribe(topic: str) -> Subscription:
    return listener().subscribe(topic)
