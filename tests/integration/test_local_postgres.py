"""`make dev` takes back its own Postgres left running by a run that died without stopping it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from devstack.postgres import LocalPostgres, free_port, port_open


@pytest.fixture
def cluster_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="oa-test-pg-takeover-"))
    yield path
    found = LocalPostgres(path, fast=True).postmaster()
    if found is not None:
        LocalPostgres(path, fast=True)._terminate(found[0])
    shutil.rmtree(path, ignore_errors=True)


def _pid(pg: LocalPostgres) -> int:
    """The server's pid, once it answers queries on the wanted port."""
    with psycopg.connect(pg.url(), connect_timeout=5) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    found = pg.postmaster()
    assert found is not None
    return found[0]


def test_a_stale_server_of_this_folder_is_reused_or_restarted(cluster_dir: Path) -> None:
    first = LocalPostgres(cluster_dir, port=free_port(), password="takeover", fast=True)
    first.start()
    running = _pid(first)

    # The run that started it died: the next one, on the same port, takes it over as it is.
    again = LocalPostgres(cluster_dir, port=first.port, password="takeover", fast=True)
    again.start()
    assert _pid(again) == running

    # Asked for another port: the stale server is stopped and the cluster starts where it is wanted.
    moved = LocalPostgres(cluster_dir, port=free_port(), password="takeover", fast=True)
    moved.start()
    assert not port_open(first.port)
    restarted = _pid(moved)
    assert restarted != running

    # Its lock file gone (pg_ctl could no longer stop it): found by its command line, restarted.
    (moved.pgdata / "postmaster.pid").unlink()
    found = moved.postmaster()
    assert found is not None and found[:2] == (restarted, moved.port) and found[2] is False
    LocalPostgres(cluster_dir, port=moved.port, password="takeover", fast=True).start()
    assert _pid(moved) != restarted

    moved.stop()
    assert moved.postmaster() is None and not port_open(moved.port)
