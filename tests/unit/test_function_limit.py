"""The time a serverless function may run is one setting: vercel.json's `maxDuration` for the API's
functions is the source of truth, and FUNCTION_MAX_DURATION_S (what chat streams and the handoff of
long turns read, `shared.chat.handoff`) mirrors it."""

from __future__ import annotations

import json

from shared.config import PROJECT_ROOT, Settings


def _api_max_duration() -> float:
    config = json.loads((PROJECT_ROOT / "vercel.json").read_text())
    (build,) = [b for b in config["builds"] if b["src"] == "api/*.py"]
    return float(build["config"]["maxDuration"])


def test_the_setting_mirrors_vercel_json() -> None:
    assert Settings.model_fields["FUNCTION_MAX_DURATION_S"].default == _api_max_duration()


def test_streams_hand_off_with_time_to_spare() -> None:
    fields = Settings.model_fields
    limit, margin = _api_max_duration(), fields["CHAT_HANDOFF_MARGIN_S"].default
    # The relay looks at the clock on each upstream event, at least every bridge heartbeat (15 s).
    assert 15 < margin < limit
