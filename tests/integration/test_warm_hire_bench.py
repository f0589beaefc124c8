"""`openagents bench warm-hire --quick` on the real OpenClaw runtime, at size 1: a pool unit with the
pinned OpenClaw booted behind its bridge, warmed and suspended (SIGSTOP in the emulator's process
mode), is claimed by a hire, resumed, gets the agent's files and streams a first token through the whole
product path. The figure is not asserted (benchmarks measure); that the path completes is.

A gateway boot alone takes 20 s on an idle machine (minutes on loaded cores), so this is the bench at its
smallest size rather than a separate, shorter test."""

from __future__ import annotations

import re
from typing import Any

import pytest

import bench

pytestmark = [pytest.mark.openclaw, pytest.mark.timeout(1200)]


def test_warm_hire_on_openclaw_reaches_a_first_token(openclaw_install: Any, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OPENAGENTS_AGENT_RUNTIME", "openclaw")
    monkeypatch.delenv("DATABASE_URL", raising=False)  # a throwaway cluster: the pool's rows stay out of others'
    assert bench.run("warm-hire", full=False) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert re.match(r"^warm-hire: value=[0-9.]+s goal=<1s$", lines[-1]), out
    assert f"runtime: OpenClaw {openclaw_install.version}" in out
    assert "on 1/1 instances" in out, out  # the hire claimed a unit and the bridge has the agent's files
    for step in ("claimed", "resumed", "bridge ready", "files pushed", "running", "first token"):
        assert re.search(rf"^  {step} +at p50 +[0-9]+ ms", out, re.M), (step, out)
    assert "published best: 4 s from a warm pool, 23 s from a warm image" in out
