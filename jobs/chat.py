"""Chat jobs: `continue_turn` goes on with a web turn whose function ran out of time
(`shared.chat.handoff`).

Safe to kill anywhere and run again (ARCHITECTURE §8): a rerun re-attaches to the run on the bridge
(which holds it awaiting a listener), skips the events turn_events already holds and settles the turn
once; a turn someone else closed meanwhile is left alone.
"""

from __future__ import annotations

import logging

import procrastinate

from jobs.app import task
from shared import jobs, logs

log = logging.getLogger("openagents.jobs.chat")


@task(jobs.CONTINUE_TURN, retry=procrastinate.RetryStrategy(max_attempts=3, wait=1))
def continue_turn(turn_id: str, bridge_after: int | None, seq: int, streamed_tokens: int, reached_at: float,
                  held: str = "") -> str:
    """Relay the rest of a handed-off turn into turn_events, then close and settle it."""
    from shared.chat.handoff import continue_turn as go_on

    outcome = go_on(str(turn_id), None if bridge_after is None else int(bridge_after), int(seq),
                    int(streamed_tokens), float(reached_at), str(held or ""))
    logs.log(log, logging.INFO, "handed-off turn finished", turn_id=turn_id, outcome=outcome)
    return outcome
