"""`WARM_HIRE_TRACE=1` for `warm-hire` on OpenClaw: where a chat turn's time goes before its first token.

Three sources, lined up on the wall clock: the chat route's marks (`shared.chat.timing`, written by the
API process: `devstack.serve` installs the sink), OpenClaw's own diagnostics timeline (the pinned
version's `OPENCLAW_DIAGNOSTICS=timeline`, a JSONL file named by `OPENCLAW_DIAGNOSTICS_TIMELINE_PATH`)
and the fake LLM's arrival times. Per turn, milliseconds from `POST /api/chat/stream`:

    API has it       the route's handler starts            (chat trace `received`)
    turn open        instance, hold, lease, messages       (`opened`)
    bridge answers   the bridge's response headers arrive  (`upstream`: stream token, gateway hop, replay)
    OpenClaw run     its agent run starts                  (timeline: the `session-state` startup stage)
    model call out   OpenClaw sends its model request      (timeline: `provider.request.started`)
    at the LLM       the request reached the fake LLM      (through the platform's LLM proxy)
    first token      the client read it

The timeline costs the gateway some CPU of its own, so traced figures run a little slower.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ENV = "WARM_HIRE_TRACE"


@dataclass(frozen=True)
class TraceFiles:
    timeline: Path
    chat: Path

    @classmethod
    def under(cls, folder: Path) -> TraceFiles:
        return cls(folder / "openclaw-timeline.jsonl", folder / "chat-trace.jsonl")

    def machine_env(self) -> dict[str, str]:
        return {"OPENCLAW_DIAGNOSTICS": "timeline", "OPENCLAW_DIAGNOSTICS_TIMELINE_PATH": str(self.timeline)}

    def api_env(self) -> dict[str, str]:
        from devstack.serve import CHAT_TRACE_ENV

        return {CHAT_TRACE_ENV: str(self.chat)}


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut short by a machine's stop
        if isinstance(row, dict):
            out.append(row)
    return out


def _wall(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _openclaw_marks(rows: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """Wall-clock starts of OpenClaw's agent runs and of its model requests."""
    runs, calls = [], []
    for r in rows:
        if r.get("type") == "span.start" and (r.get("attributes") or {}).get("stage") == "session-state":
            runs.append(_wall(str(r["timestamp"])))
        elif r.get("type") == "mark" and r.get("name") == "provider.request.started":
            calls.append(_wall(str(r["timestamp"])))
    return runs, calls


def turn_line(t0: float, first: float, chat: list[dict[str, float]], runs: list[float], calls: list[float],
              arrivals: list[float]) -> str:
    """One turn's marks (wall clock `t0` → `first`), in ms from `t0`; a mark not seen is left out."""
    def first_in(xs: list[float]) -> float | None:
        return next((x for x in sorted(xs) if t0 <= x <= first), None)

    steps: list[tuple[str, float | None]] = []
    marks = next((m for m in chat if t0 <= m.get("received", 0.0) <= first), {})
    steps += [("API has it", marks.get("received")), ("turn open", marks.get("opened")),
              ("bridge answers", marks.get("upstream"))]
    steps += [("OpenClaw run", first_in(runs)), ("model call out", first_in(calls)), ("at the LLM", first_in(arrivals))]
    parts = [f"{name} +{(at - t0) * 1000:.0f}" for name, at in steps if at is not None]
    return ", ".join([*parts, f"first token {(first - t0) * 1000:.0f} ms"])


def report(files: TraceFiles, turns: list[tuple[str, float, float]], arrivals: list[float]) -> None:
    """Prints one line per (label, t0, first) turn."""
    # The chat trace's marks are time.perf_counter(): CLOCK_MONOTONIC, shared by every process here.
    offset = time.time() - time.perf_counter()
    chat = [{k: float(v) + offset for k, v in (row.get("marks") or {}).items()} for row in _lines(files.chat)]
    runs, calls = _openclaw_marks(_lines(files.timeline))
    print(f"trace ({ENV}=1), ms from POST /api/chat/stream:")
    for label, t0, first in turns:
        print(f"  {label:<11} {turn_line(t0, first, chat, runs, calls, arrivals)}")
