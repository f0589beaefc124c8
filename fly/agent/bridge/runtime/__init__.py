"""Agent runtimes behind the bridge: `offline` (a deterministic model) and `openclaw` (the real gateway).

`contract.py` says what a runtime is (`Runtime`, `TurnRequest`, `Event`); `make_runtime` picks one from
the bridge's settings, importing only the one it needs.
"""

from __future__ import annotations

from typing import Any

from fly.agent.bridge.runtime.contract import Event, Runtime, TurnRequest


def make_runtime(config: Any) -> Runtime:
    if config.runtime == "openclaw":
        from fly.agent.bridge.runtime.openclaw import OpenClawRuntime

        return OpenClawRuntime.from_config(config)
    from fly.agent.bridge.runtime.offline import OfflineRuntime

    return OfflineRuntime(interval_ms=config.offline_token_interval_ms, tokens=config.offline_tokens)


__all__ = ["Event", "Runtime", "TurnRequest", "make_runtime"]
