"""Recording a model call once (ARCHITECTURE §5b: usage from the LLM proxy).

Each call through the proxy is one `usage_events` row whose `source_request_id` is the call's id:
`llm:<provider>:<the provider's response id>` (or `llm:<uuid>` made by the proxy when the provider
gave none), so the same answer is never recorded twice — a retried write, two readers of one stream —
while a client's retry that reaches the provider again is the new call the provider bills.

The row is tagged with the turn the call belongs to: the turn the bridge names
(`x-openagents-turn-id`, checked to be this instance's), else the instance's turn in progress, else
none (a heartbeat, background work). Recording takes a share lock on that turn, so it and the turn's
settlement happen one after the other: a call recorded before the settlement is settled with the
turn; one that arrives after it (or has no turn) settles with the hourly job (`settles_with = 'hour'`).
"""

from __future__ import annotations

import uuid

from shared.data import get_db
from shared.llm.providers import Provider
from shared.llm.tokens import Caller
from shared.llm.usage import CallUsage

TURN_HEADER = "x-openagents-turn-id"


def named_turn(named: str | None) -> str | None:
    """The turn id the bridge's header names, if it is one (whether it is this instance's turn is
    the opening's to check: `shared.llm.opening`)."""
    if not named:
        return None
    try:
        return str(uuid.UUID(named))
    except ValueError:
        return None


def call_id(provider: Provider, usage: CallUsage) -> str:
    if usage.response_id:
        return f"llm:{provider}:{usage.response_id}"[:255]
    return f"llm:{uuid.uuid4()}"


def record(caller: Caller, provider: Provider, turn_id: str | None, model: str, usage: CallUsage, *,
           byok: bool) -> bool:
    """Records the call; False when it was recorded already. One statement in one round trip: the
    turn's share lock and the row (`llm_usage_record`)."""
    made = get_db().service_once("llm_usage_record", user_id=caller.user_id, instance_id=caller.instance_id,
                                 agent_id=caller.agent_id, turn_id=turn_id, source_request_id=call_id(provider, usage),
                                 model=model[:200], input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                                 byok=byok)
    return made is not None
