"""A database for benchmarks.

`$DATABASE_URL` (the environment variable only, never a `.env` file) if it is set: the benchmarks then
write their rows into that database and delete them afterwards. Otherwise a throwaway local cluster
(`LocalPostgres`, fast mode) in a temporary folder with the real migrations applied, torn down after
the run. A production `OPENAGENTS_ENV` is refused: benchmarks write millions of rows.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.data import Database


@dataclass
class BenchDatabase:
    url: str
    db: Database
    throwaway: bool  # True: nobody else's data is here, the whole cluster goes away afterwards

    @property
    def display_url(self) -> str:
        return redact(self.url)

    @contextmanager
    def as_default(self) -> Iterator[Database]:
        """Makes `shared.data.get_db()` return this database inside the block (for benchmarks that go
        through application code), then restores whatever was there, without closing it."""
        import shared.data as data

        previous, data._db = data._db, self.db
        try:
            yield self.db
        finally:
            data._db = previous


EMAIL_DOMAIN = "bench.openagents.invalid"


def remove_bench_rows(db: Database, tag: str, first: tuple[str, ...] = ()) -> str:
    """Removes what a benchmark made for its `bench-<tag>-…@` users, in one transaction: the `first`
    statements (`{users}` is the users' ids, a subquery with `%(p)s`), then their instances, the
    agents they created and the accounts, the ledger with them. Says what happened, never raises."""
    users = "select id from auth.users where email like %(p)s"
    params = {"p": f"bench-{tag}-%@{EMAIL_DOMAIN}"}
    try:
        with db.connection() as conn, conn.transaction():
            for statement in first:
                conn.execute(statement.format(users=users), params)
            conn.execute(f"delete from public.agent_instances where user_id in ({users})", params)
            conn.execute(f"delete from public.agents where creator_id in ({users})", params)
            # The ledger goes with the account (the one delete its append-only trigger allows).
            conn.execute(f"delete from auth.users where id in ({users})", params)
    except Exception as exc:
        return f"could not remove the benchmark rows ({exc.__class__.__name__}: {exc}); emails 'bench-{tag}-%'"
    return "removed the benchmark rows"


def payer_with_instance(tx: Any, tag: str, *, pricing_model: str, price: int,
                        instance_columns: str = "", instance_values: str = "") -> tuple[str, str, str, str]:
    """A benchmark's user (`bench-<tag>-payer@…`), a creator, the creator's published agent and the
    user's running instance of it, in `tx`: (user, creator, agent, instance) ids. `instance_columns`
    and `instance_values` add literal columns to the instance (", spend_cap_hourly", ", 1000")."""
    def one(sql: str, p: dict[str, Any]) -> str:
        return str(tx.sql(sql, p).fetchone()["id"])

    user = one("insert into auth.users (email) values (%(e)s) returning id", {"e": f"bench-{tag}-payer@{EMAIL_DOMAIN}"})
    creator = one("insert into auth.users (email) values (%(e)s) returning id",
                  {"e": f"bench-{tag}-creator@{EMAIL_DOMAIN}"})
    agent = one("insert into agents (creator_id, slug, name, category, status, published_at, pricing_model,"
                " credits_price) values (%(c)s, %(s)s, 'Bench', 'bench', 'published', now(), %(m)s::pricing_model,"
                " %(p)s) returning id", {"c": creator, "s": f"bench-{tag}", "m": pricing_model, "p": price})
    instance = one(f"insert into agent_instances (user_id, agent_id, status{instance_columns})"
                   f" values (%(u)s, %(a)s, 'running'{instance_values}) returning id", {"u": user, "a": agent})
    return user, creator, agent, instance


def redact(url: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


@contextmanager
def database(*, log: Any = print, pool_size: int = 4) -> Iterator[BenchDatabase]:
    url = os.environ.get("DATABASE_URL")
    if url:
        if os.environ.get("OPENAGENTS_ENV") == "production":
            raise RuntimeError("refusing to benchmark against a production DATABASE_URL (OPENAGENTS_ENV=production)")
        db = Database(url, max_size=pool_size)
        log(f"database: {redact(url)} ($DATABASE_URL; benchmark rows are removed afterwards)")
        try:
            yield BenchDatabase(url, db, throwaway=False)
        finally:
            db.close()
        return

    from devstack.postgres import LocalPostgres, free_port
    from shared.data.migrate import create_database, migrate

    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="oa-bench-pg-"))
    pg = LocalPostgres(tmp, port=free_port(), password="bench-" + uuid.uuid4().hex[:16], fast=True)
    try:
        pg.start()
        create_database(pg.url(), "openagents_bench")
        url = pg.url("openagents_bench")
        migrate(url, log=lambda *_: None)
        log(f"database: throwaway local cluster on port {pg.port} with the migrations applied "
            f"({time.perf_counter() - started:.1f} s)")
        db = Database(url, max_size=pool_size)
        try:
            yield BenchDatabase(url, db, throwaway=True)
        finally:
            db.close()
    finally:
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
