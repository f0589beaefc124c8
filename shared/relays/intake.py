"""Recording inbound updates: dedupe and queue in one statement (ARCHITECTURE §5 "Relay message").

    record(records) → which of them were new

Each record is one `INSERT … ON CONFLICT DO NOTHING` into `relay_inbox` keyed by (relay, platform
id) that, only when it inserted, defers `relay_process` for the row in the same statement — one round
trip, and the job exists iff the row does. A redelivered update (Telegram's retries, Slack's
`X-Slack-Retry-Num`, Meta's, Discord's) finds its row and does nothing. The job's lock is the
external chat (`shared.jobs.relay_chat_lock`), so one chat's messages are answered in order.

The webhook functions and the Discord gateway bot both record through here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from shared import logs
from shared.data import Tx, get_db
from shared.jobs import RELAY_PROCESS, relay_chat_lock
from shared.relays.models import InboxRecord

log = logging.getLogger("openagents.relays")


def record_in(tx: Tx, item: InboxRecord) -> int | None:
    """Records one update in `tx`; its inbox id when it was new, None for a redelivery."""
    row = tx.one("relay_inbox_record", relay=item.relay, platform_id=item.platform_id[:200],
                 chat_id=item.chat_id[:200], payload=json.dumps(item.payload, separators=(",", ":")),
                 queue=RELAY_PROCESS.queue, task=RELAY_PROCESS.name, priority=RELAY_PROCESS.priority,
                 lock=relay_chat_lock(item.relay, item.chat_id))
    return None if row is None else int(row["id"])


def record(items: Sequence[InboxRecord]) -> list[int | None]:
    """Records updates (one transaction); for each, its new inbox id or None when already recorded."""
    if not items:
        return []
    with get_db().service() as tx:
        ids = [record_in(tx, item) for item in items]
    for item, new in zip(items, ids, strict=True):
        logs.log(log, logging.INFO, "relay update received", relay=item.relay, platform_id=item.platform_id,
                 inbox_id=new, duplicate=new is None)
    return ids
