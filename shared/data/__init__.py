"""The one data-access layer: a psycopg 3 pool, named SQL queries, and role switching.

Every transaction runs as exactly one Postgres role, the way PostgREST does it:
`authenticated` with the user's JWT claims, `anon`, or `service_role` (BYPASSRLS, jobs and trusted
server paths only). The switch (`set_config('role', …)` + `request.jwt.claims`) is pipelined with
BEGIN and the first query, so acting as a user costs no extra round trip.

All SQL lives in `supabase/migrations/` and in the named queries of `shared/data/queries/*.sql`.
psycopg is imported on first use so serverless entry points stay light at import time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, cast

from shared.data.queries import QUERIES, Query

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

    from shared.auth import User

Row = dict[str, Any]

# `request.jwt.claim.sub` too: auth.uid() reads it first and so skips parsing the claims JSON.
_SETUP = ("select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
          " set_config('request.jwt.claim.sub', %s, true)")
# `Database.service_once`: the transaction around one statement, sent with it as one simple query.
_ONCE_BEGIN = ("begin; select set_config('role', 'service_role', true),"
               " set_config('request.jwt.claims', '{\"role\":\"service_role\"}', true),"
               " set_config('request.jwt.claim.sub', '', true); ")
# On a line of its own: a statement may end in a comment (`select 1 -- why`).
_ONCE_END = "\n; commit"


class Tx:
    """One transaction acting as one role. Methods take a query name and its parameters."""

    def __init__(self, conn: psycopg.Connection[Row], role: str, claims: Mapping[str, Any]) -> None:
        self.conn = conn
        self.role = role
        self.claims = claims
        self._pending: tuple[str, str, str] | None = (
            role, json.dumps(claims, separators=(",", ":")), str(claims.get("sub", "")))

    def _run(self, sql: str, params: Mapping[str, Any] | tuple[Any, ...] | None) -> psycopg.Cursor[Row]:
        cur = self.conn.cursor()
        if self._pending is not None:
            setup, self._pending = self._pending, None
            if self.conn.pgconn.pipeline_status:  # in the caller's pipeline (`queue`): a nested one would sync
                self.conn.execute(_SETUP, setup)
                cur.execute(sql, params)
            else:
                with self.conn.pipeline():
                    self.conn.execute(_SETUP, setup)
                    cur.execute(sql, params)
        else:
            cur.execute(sql, params)
        return cur

    def _query(self, name: str, params: Mapping[str, Any]) -> psycopg.Cursor[Row]:
        q: Query = QUERIES[name]
        return self._run(q.sql, q.bind(params))

    def all(self, name: str, **params: Any) -> list[Row]:
        return self._query(name, params).fetchall()

    def one(self, name: str, **params: Any) -> Row | None:
        return self._query(name, params).fetchone()

    def scalar(self, name: str, **params: Any) -> Any:
        row = self._query(name, params).fetchone()
        return None if row is None else next(iter(row.values()))

    def execute(self, name: str, **params: Any) -> int:
        """Runs a statement; returns the affected row count."""
        return self._query(name, params).rowcount

    def queue(self, name: str, **params: Any) -> psycopg.Cursor[Row]:
        """Runs a named query and returns its cursor unread. Inside `with tx.conn.pipeline():` queries
        queued together go out in one round trip; read their cursors once the block has ended."""
        return self._query(name, params)

    def sql(self, sql: str, params: Mapping[str, Any] | tuple[Any, ...] | None = None) -> psycopg.Cursor[Row]:
        """Ad-hoc SQL for the migration runner, tests and benchmarks only; app code uses named queries."""
        return self._run(sql, params)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        if self._pending is not None:
            self._run("select 1", None)
        with self.conn.transaction():
            yield


class Database:
    def __init__(self, url: str, *, max_size: int = 10, min_size: int = 1, prepare: bool = True) -> None:
        self.url = url
        self.direct_url: str | None = None
        self.max_size = max_size
        self.min_size = min_size
        self.prepare = prepare
        self._pool: ConnectionPool[psycopg.Connection[Row]] | None = None
        self._lock = threading.Lock()

    @property
    def pool(self) -> ConnectionPool[psycopg.Connection[Row]]:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    from psycopg.rows import dict_row
                    from psycopg_pool import ConnectionPool

                    # dict_row makes every connection a Connection[Row]; the pool's type cannot infer it.
                    self._pool = cast("ConnectionPool[psycopg.Connection[Row]]", ConnectionPool(
                        self.url,
                        min_size=self.min_size,
                        max_size=self.max_size,
                        kwargs={
                            "autocommit": False,
                            "row_factory": dict_row,
                            # Supabase's transaction pooler cannot keep prepared statements.
                            "prepare_threshold": 5 if self.prepare else None,
                        },
                        open=True,
                        name="openagents",
                    ))
        return self._pool

    @contextmanager
    def _tx(self, role: str, claims: Mapping[str, Any]) -> Iterator[Tx]:
        with self.pool.connection() as conn:
            yield Tx(conn, role, claims)

    def user(self, claims: Mapping[str, Any]) -> AbstractContextManager[Tx]:
        """A transaction as `authenticated` with these JWT claims (RLS applies)."""
        return self._tx("authenticated", claims)

    def anon(self) -> AbstractContextManager[Tx]:
        return self._tx("anon", {"role": "anon"})

    def service(self) -> AbstractContextManager[Tx]:
        """A transaction as `service_role` (bypasses RLS): jobs and trusted server paths only."""
        return self._tx("service_role", {"role": "service_role"})

    def service_once(self, name: str, **params: Any) -> Row | None:
        """One statement in a transaction of its own as `service_role`, in ONE round trip: BEGIN, the
        role switch, the statement and COMMIT go out as one simple query, its values bound
        client-side (psycopg's ClientCursor quotes each). Returns the statement's first row (None
        when it has none); an error rolls the whole of it back. For the hot path of a chat stream
        (issue 14): measured at about half the client CPU of the same transaction pipelined, and
        one round trip instead of two."""
        from psycopg import ClientCursor
        from psycopg.pq import TransactionStatus

        q: Query = QUERIES[name]
        with self.pool.connection() as conn:
            conn.autocommit = True  # the query string carries its own BEGIN and COMMIT
            try:
                cur = ClientCursor(conn)
                cur.execute(_ONCE_BEGIN + q.sql + _ONCE_END, q.bind(params))
                cur.nextset()  # past BEGIN's result to the role switch's,
                cur.nextset()  # and on to the statement's
                return cur.fetchone() if cur.description is not None else None
            except BaseException:
                # A failed statement leaves its transaction open and aborted (the rest of the string
                # is skipped): end it before the connection goes back.
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.execute("rollback")
                raise
            finally:
                conn.autocommit = False

    def service_send(self, name: str, **params: Any) -> None:
        """`service_once` for a statement whose result nobody reads (a chat turn's frames, about 20
        a turn): the same one simple query, handed to libpq as it is. psycopg's handling of the four
        results (a cursor, a description and rows for each) was most of a frame's client CPU; this
        leaves only the quoting (issue 14). libpq waits for the answer with the GIL released. A
        failure rolls the transaction back and raises the error psycopg would have."""
        from psycopg import ClientCursor, DatabaseError, errors
        from psycopg.pq import DiagnosticField, ExecStatus, TransactionStatus

        q: Query = QUERIES[name]
        with self.pool.connection() as conn:
            text = _ONCE_BEGIN + ClientCursor(conn).mogrify(q.sql, q.bind(params)) + _ONCE_END
            pgconn = conn.pgconn
            # One result comes back: COMMIT's, or the error that stopped the string.
            result = pgconn.exec_(text.encode(conn.info.encoding))
            if result.status == ExecStatus.COMMAND_OK:
                return
            if pgconn.transaction_status != TransactionStatus.IDLE:
                pgconn.exec_(b"rollback")
            sqlstate = (result.error_field(DiagnosticField.SQLSTATE) or b"").decode("ascii", "replace")
            message = (result.error_message or b"the statement failed").decode("utf-8", "replace").strip()
            try:
                kind = errors.lookup(sqlstate)
            except KeyError:
                kind = DatabaseError
            raise kind(message)

    @contextmanager
    def connection(self, *, autocommit: bool = False) -> Iterator[psycopg.Connection[Row]]:
        """A raw pooled connection as the configured login role (migrations, LISTEN, job queue)."""
        with self.pool.connection() as conn:
            if autocommit:
                conn.autocommit = True
            try:
                yield conn
            finally:
                if autocommit:
                    conn.autocommit = False

    @contextmanager
    def listen(self, channel: str, *, url: str | None = None) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        """A dedicated autocommit connection LISTENing on `channel` (use `conn.notifies(timeout=…)`).

        Not from the pool: LISTEN is session state, and the transaction pooler cannot carry it, so it
        goes to `DATABASE_DIRECT_URL` when that is set."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(url or self.direct_url or self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("listen {}").format(sql.Identifier(channel)))
            yield conn

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


_db: Database | None = None
_db_lock = threading.Lock()


def get_db() -> Database:
    global _db
    if _db is None:
        with _db_lock:
            if _db is None:
                from shared.config import get_settings

                s = get_settings()
                if not s.DATABASE_URL:
                    raise RuntimeError("DATABASE_URL is not set (run `openagents dev` for a local stack)")
                _db = Database(s.DATABASE_URL, max_size=s.DATABASE_POOL_MAX, prepare=":6543" not in s.DATABASE_URL)
                _db.direct_url = s.DATABASE_DIRECT_URL
    return _db


def set_db(db: Database | None) -> None:
    """Points the process at another database (the test harness and the local stack use it)."""
    global _db
    if _db is not None and _db is not db:
        _db.close()
    _db = db


def acting_as(user: User | None) -> Any:
    """A transaction as this signed-in user, or as anon when there is none."""
    db = get_db()
    return db.user(user.claims) if user is not None else db.anon()
