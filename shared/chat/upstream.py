"""Chat's side of a turn on the agent machine: the bridge client's stream (`shared.bridge.client`,
through the SSE gateway) with its failures as the problems chat answers.

    not configured                    → 503 not-configured
    the agent answered other than 200 → 502 agent-unavailable
    no answer in time / silent stream → 504 agent-timeout
    could not be reached              → 502 agent-unavailable
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from shared.bridge import protocol
from shared.bridge.target import MachineTarget
from shared.problems import Problem, unavailable


class UpstreamError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


@contextmanager
def _bridge_failures() -> Iterator[None]:
    """The bridge client's errors as the problems chat answers (the table above)."""
    from shared.bridge import client

    try:
        yield
    except client.BridgeNotConfigured as exc:
        raise UpstreamError(unavailable(exc.detail, code="not-configured")) from None
    except client.BridgeRefused as exc:
        raise UpstreamError(Problem(502, "Bad Gateway", f"The agent answered {exc.status}.",
                                    code="agent-unavailable")) from None
    except client.BridgeTimeout:
        raise UpstreamError(Problem(504, "Gateway Timeout", "The agent stopped responding.",
                                    code="agent-timeout")) from None
    except client.BridgeUnavailable:
        raise UpstreamError(Problem(502, "Bad Gateway", "The agent could not be reached.",
                                    code="agent-unavailable")) from None


@contextmanager
def open_turn_stream(target: MachineTarget, *, turn_id: str, session_key: str, message: str,
                     channel: str = "web") -> Iterator[Iterator[protocol.Event | protocol.Comment]]:
    from shared.bridge import client  # httpx loads on the first turn, not at cold start

    with _bridge_failures(), client.bridge_client().turn(target, turn_id=turn_id, session_key=session_key,
                                                         message=message, channel=channel) as events:
        yield events


@contextmanager
def attach_turn_stream(target: MachineTarget, *, turn_id: str,
                       after: int) -> Iterator[Iterator[protocol.Event | protocol.Comment]]:
    """A running turn's events after bridge event `after` (re-attaching; never starts a run)."""
    from shared.bridge import client

    with _bridge_failures(), client.bridge_client().attach(target, turn_id=turn_id, after=after) as events:
        yield events


__all__ = ["MachineTarget", "UpstreamError", "attach_turn_stream", "open_turn_stream"]
