"""The billing benchmarks at quick size against the test database: they run, end with the fixed line,
and leave nothing behind (goals are reported by `openagents bench`, not asserted here)."""

from __future__ import annotations

import re

import pytest

import bench


@pytest.mark.parametrize("name", ["billing-aggregate", "debits"])
def test_billing_benchmarks_quick(name, database, db, monkeypatch, capsys):
    with db.service() as tx:
        before = tx.sql("select (select count(*) from usage_events) as u, (select count(*) from auth.users) as a,"
                        " (select count(*) from meter_reports) as m").fetchone()
    monkeypatch.setenv("DATABASE_URL", database.url)
    assert bench.run(name, full=False) == 0
    out = capsys.readouterr().out
    last = [ln for ln in out.splitlines() if ln.strip()][-1]
    assert re.match(rf"^{name}: value=[0-9.]+[a-z]+ goal=.+$", last), last
    if name == "debits":  # correctness is not a goal to miss: it must hold even at quick size
        assert "negative balances or entries: 0 " in out and "one debit per turn: ok" in out
    with db.service() as tx:
        after = tx.sql("select (select count(*) from usage_events) as u, (select count(*) from auth.users) as a,"
                       " (select count(*) from meter_reports) as m").fetchone()
    assert after == before
