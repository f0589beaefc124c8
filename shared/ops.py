"""Health reporting and the cached OpenAPI document."""

import functools
import json
import logging
import time

from shared.config import get_settings
from shared.data import get_db
from shared.models import Model
from shared.problems import Problem

log = logging.getLogger("openagents.ops")


class DatabaseCheck(Model):
    ok: bool
    latency_ms: float | None = None


class Health(Model):
    status: str
    env: str
    database: DatabaseCheck


def health() -> Health:
    env = get_settings().OPENAGENTS_ENV
    start = time.perf_counter()
    try:
        with get_db().anon() as tx:
            tx.scalar("ping")
    except Exception as exc:  # any failure to reach the DB is "unreachable"; details stay in logs
        log.warning("health: database unreachable: %s", type(exc).__name__)
        raise Problem(503, "Service Unavailable", "The database is unreachable.", code="unhealthy",
                      checks={"database": {"ok": False}}) from None
    return Health(status="ok", env=env,
                  database=DatabaseCheck(ok=True, latency_ms=round((time.perf_counter() - start) * 1000, 2)))


@functools.cache
def openapi_json() -> str:
    from shared.web.openapi import build_document

    return json.dumps(build_document(), separators=(",", ":"))
