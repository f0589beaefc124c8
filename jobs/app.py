"""The procrastinate app. The connection pool is made when a worker opens the app, from settings
(`DATABASE_DIRECT_URL`: LISTEN/NOTIFY does not pass Supabase's transaction pooler)."""

from __future__ import annotations

from typing import Any

import procrastinate
from psycopg_pool import AsyncConnectionPool

# Modules holding tasks; a worker imports them all so every task name resolves.
TASK_MODULES = ["jobs.lifecycle", "jobs.billing", "jobs.maintenance"]


def conninfo() -> str:
    from shared.config import get_settings

    s = get_settings()
    url = s.DATABASE_DIRECT_URL or s.DATABASE_URL
    if not url:
        raise RuntimeError("DATABASE_URL is not set")
    return url


def _pool(**kwargs: Any) -> AsyncConnectionPool:
    return AsyncConnectionPool(conninfo=conninfo(), **kwargs)


app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(
        pool_factory=_pool, kwargs={"options": "-c search_path=procrastinate,public"}, min_size=1, max_size=10,
    ),
    import_paths=TASK_MODULES,
)
