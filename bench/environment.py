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
