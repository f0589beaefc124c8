"""The lifecycle benchmarks at quick size against the test database: they run, end with the fixed line,
hold their correctness checks, and leave nothing behind (goals are reported by `openagents bench`)."""

from __future__ import annotations

import re

import pytest

import bench


def _counts(db):
    with db.service() as tx:
        return tx.sql("select (select count(*) from auth.users) as u, (select count(*) from agent_instances) as i,"
                      " (select count(*) from agents) as a, (select count(*) from vault.secrets) as s").fetchone()


@pytest.mark.parametrize("name", ["health-sweep", "hire"])
def test_lifecycle_benchmarks_quick(name, database, db, monkeypatch, capsys):
    before = _counts(db)
    monkeypatch.setenv("DATABASE_URL", database.url)
    assert bench.run(name, full=False) == 0
    out = capsys.readouterr().out
    last = [ln for ln in out.splitlines() if ln.strip()][-1]
    assert re.match(rf"^{name}: value=[0-9.]+[a-z]+ goal=.+$", last), last
    if name == "hire":
        assert "unsettled 0  goal unsettled 0  ok" in out and "orphaned apps/volumes/machines on Fly: 0" in out
    else:
        assert re.search(r"300 probed, 300 healthy", out), out
    assert "removed the benchmark rows" in out
    assert _counts(db) == before
