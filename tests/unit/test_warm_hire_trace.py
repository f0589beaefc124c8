"""`WARM_HIRE_TRACE=1`'s reading of OpenClaw's diagnostics timeline and its per-turn line."""

from __future__ import annotations

import json
from pathlib import Path

from bench.warm_hire_trace import TraceFiles, _lines, _openclaw_marks, turn_line


def test_the_timeline_gives_each_runs_start_and_its_model_calls(tmp_path: Path) -> None:
    rows = [{"type": "span.start", "name": "agent.startup", "timestamp": "2026-12-01T18:37:46.230Z",
             "attributes": {"stage": "session-state"}},
            {"type": "span.start", "name": "agent.startup", "timestamp": "2026-12-01T18:37:46.240Z",
             "attributes": {"stage": "model-selection"}},
            {"type": "mark", "name": "provider.request.started", "timestamp": "2026-12-01T18:37:46.539Z"}]
    path = tmp_path / "timeline.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{\"type\": \"mark\", \"na")  # cut off by a stop
    runs, calls = _openclaw_marks(_lines(path))
    assert [round(x % 60, 3) for x in runs] == [46.23] and [round(x % 60, 3) for x in calls] == [46.539]


def test_a_turns_line_is_in_ms_from_its_request_and_leaves_out_what_was_not_seen() -> None:
    chat = [{"received": 100.002, "opened": 100.007, "upstream": 100.018}, {"received": 50.0}]
    line = turn_line(100.0, 100.423, chat, runs=[100.064, 99.0], calls=[100.369], arrivals=[100.407, 101.0])
    assert line == ("API has it +2, turn open +7, bridge answers +18, OpenClaw run +64, model call out +369,"
                    " at the LLM +407, first token 423 ms")
    assert turn_line(100.0, 100.5, [], [], [], []) == "first token 500 ms"


def test_trace_env_turns_on_openclaws_timeline_and_the_chat_routes_marks(tmp_path: Path) -> None:
    files = TraceFiles.under(tmp_path)
    assert files.machine_env() == {"OPENCLAW_DIAGNOSTICS": "timeline",
                                   "OPENCLAW_DIAGNOSTICS_TIMELINE_PATH": str(tmp_path / "openclaw-timeline.jsonl")}
    assert list(files.api_env().values()) == [str(tmp_path / "chat-trace.jsonl")]
