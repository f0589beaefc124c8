"""Smoke test of `openagents bench --quick`: each benchmark runs at reduced size and ends with the fixed
last line (ARCHITECTURE §6). Goals are not asserted here: benchmarks measure, `openagents bench` reports."""

from __future__ import annotations

import re

import pytest

import bench
from bench.registry import Goal, Result

LAST_LINE = re.compile(r"^(?P<name>[a-z0-9-]+): (ratio=[0-9.]+|value=[0-9.]+[a-z%]+) goal=.+$")


def _last_line(out: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert lines, "the benchmark printed nothing"
    return lines[-1]


def test_coldstart_quick(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.run("coldstart", full=False) == 0
    out = capsys.readouterr().out
    last = _last_line(out)
    assert re.match(r"^coldstart: (ratio=[0-9.]+|value=[0-9.]+[a-z%]+) goal=.+$", last), last
    assert last.endswith("goal=<=1.15")  # the headline is the worst ratio to the bare framework
    assert "goal <150ms" in out  # the absolute figure stays a report line
    assert "bare framework over the whole run" in out
    assert "api.ops" in out  # every entry point is listed


def test_rls_quick(database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", database.url)
    assert bench.run("rls", full=False) == 0
    out = capsys.readouterr().out
    last = _last_line(out)
    assert re.match(r"^rls: (ratio=[0-9.]+|value=[0-9.]+[a-z%]+) goal=.+$", last), last
    assert last.endswith("goal=<=1.5")
    assert re.search(r"policy cost .* goal <=1\.3 ", out)
    assert "removed the benchmark rows" in out  # nothing left behind in the shared test database

    from shared.data import Database

    db = Database(database.url, max_size=1)
    try:
        with db.service() as tx:
            left = tx.sql("select count(*) as n from auth.users where email like %(p)s",
                          {"p": "%@bench.openagents.invalid"}).fetchone()["n"]
    finally:
        db.close()
    assert left == 0


def test_unknown_name_lists_benchmarks(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.run("no-such-benchmark") == 2
    out = capsys.readouterr().out
    assert "rls" in out and "coldstart" in out


def test_result_line_format() -> None:
    assert Result("rls", Goal("<=", 1.5), ratio=1.123).line() == "rls: ratio=1.12 goal=<=1.5"
    assert Result("coldstart", Goal("<", 150, "ms"), value=87.04, unit="ms").line() == "coldstart: value=87.0ms goal=<150ms"
    assert LAST_LINE.match(Result("x", Goal(">=", 90, "%"), value=93.0, unit="%").line())
    assert not Goal("<", 150, "ms").met(150)
    with pytest.raises(ValueError):
        Result("x", Goal("<", 1), ratio=1.0, value=1.0)


def test_search_quick(database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", database.url)
    assert bench.run("search", full=False) == 0
    out = capsys.readouterr().out
    last = _last_line(out)
    assert re.match(r"^search: value=[0-9.]+ms goal=<20ms$", last), last
    assert "anon / service role: median ratio" in out
    assert "q exact name" in out and "page 2-3 relevance" in out  # the mix ran, later pages included
    assert "removed the benchmark rows" in out  # nothing left behind in the shared test database

    from shared.data import Database

    db = Database(database.url, max_size=1)
    try:
        with db.service() as tx:
            left = tx.sql("select count(*) as n from agents where slug like 'bench-%%'").fetchone()["n"]
    finally:
        db.close()
    assert left == 0


def test_intake_quick(database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", database.url)
    assert bench.run("intake", full=False) == 0
    out = capsys.readouterr().out
    last = _last_line(out)
    assert re.match(r"^intake: ratio=[0-9.]+ goal=>=0\.5$", last), last
    assert "verify+dedupe+enqueue" in out and "goal <10ms" in out
    assert "redeliveries recorded 0" in out and "(each update recorded and enqueued once)" in out
    assert "removed the benchmark rows" in out

    from shared.data import Database

    db = Database(database.url, max_size=1)
    try:
        with db.service() as tx:
            jobs = tx.sql("select count(*) as n from procrastinate.procrastinate_jobs"
                          " where lock like 'relay-chat:telegram:9%%' and args::text like '%%inbox_id%%'"
                          " and status = 'todo' and lock ~ '^relay-chat:telegram:9[0-9]{7}$'").fetchone()["n"]
    finally:
        db.close()
    assert jobs == 0  # no benchmark job left for a later test's worker


def test_sweeps_quick(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Reconcile compares the whole database with the whole Fly org: it needs a database of its own, so
    # the benchmark makes its throwaway cluster here instead of sharing the test database.
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("BENCH_SWEEP_SIZES", "200")
    assert bench.run("sweeps", full=False) == 0
    out = capsys.readouterr().out
    last = _last_line(out)
    assert re.match(r"^sweeps: ratio=[0-9.]+ goal=<1$", last), last
    for sweep in ("health", "reconcile", "idle"):
        assert re.search(rf"^  {sweep} +[0-9.]+ s +[0-9.]+ s/1k  period [0-9]+ s", out, re.M), sweep
    assert "reconcile skipped" not in out
    # The emulator counted the Machines API calls each sweep made, by operation.
    assert re.search(r"Fly Machines API: list_org_machines [0-9]+; proxy requests [0-9,]+", out)
    assert re.search(r"[0-9]+ orphan apps and [0-9]+ extra machines deleted", out)
    assert re.search(r"20 stops deferred in [0-9.]+ s, drained", out)  # 10% of 200 idle past the threshold


def test_relay_intake_quick(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)  # its own cluster: its drains see only its jobs
    monkeypatch.setenv("BENCH_RELAY_RATE", "4")
    monkeypatch.setenv("BENCH_RELAY_SECONDS", "2")
    assert bench.run("relay-intake", full=False) == 0
    out = capsys.readouterr().out
    last = _last_line(out)
    assert re.match(r"^relay-intake: ratio=[0-9.]+ goal=>=0\.9$", last), last
    assert re.search(r"accepted [0-9.]+/s \(HTTP \{200: 8\}\)", out), out  # 4/s for 2 s, every one accepted
    assert re.search(r"answered 8 of 8 \(8 replies sent\)", out), out
    assert "backlog (recorded, not yet answered) each second" in out


def test_llm_proxy_quick(database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from shared.data import Database

    db = Database(database.url, max_size=1)

    def left() -> tuple[int, int]:
        with db.service() as tx:
            row = tx.sql("select (select count(*) from auth.users where email like %(p)s) as users,"
                         " (select count(*) from vault.secrets where name like 'instance-llm-proxy:%%') as secrets",
                         {"p": "bench-%@bench.openagents.invalid"}).fetchone()
        return int(row["users"]), int(row["secrets"])

    try:
        before = left()
        monkeypatch.setenv("DATABASE_URL", database.url)
        monkeypatch.setenv("BENCH_LLM_CALLS", "5")
        assert bench.run("llm-proxy", full=False) == 0
        out = capsys.readouterr().out
        last = _last_line(out)
        assert re.match(r"^llm-proxy: value=[0-9.]+ms goal=<10ms$", last), last
        assert re.search(r"^streamed  1 at a time, first byte: direct +[0-9.]+ .* added +-?[0-9.]+  goal <10ms", out,
                         re.M)
        assert re.search(r"^whole    10 at a time, complete  : ", out, re.M)
        # every proxied call recorded once, the busy user's too
        assert "model calls recorded: 32 of 32 proxied before the busy phase, 8 of 8 in it  ok" in out
        assert "with 5,000 of the user's calls today: proxied " in out
        assert "removed the benchmark rows" in out
        assert left() == before  # its users and its token's secret are gone
    finally:
        db.close()
