"""Fixed-window rate limits kept in Postgres (serverless functions share no memory)."""

from __future__ import annotations

from shared.data import get_db
from shared.problems import too_many_requests


def check(key: str, limit: int, window_s: int) -> None:
    """Counts one hit for `key`; raises a 429 problem once `limit` hits fall in the current window."""
    with get_db().service() as tx:
        row = tx.one("rate_limit_hit", key=key, window_s=window_s)
    assert row is not None
    if row["count"] > limit:
        raise too_many_requests(max(1, int(row["reset_in"])))
