"""The `relay_process` job (ARCHITECTURE §5 "Relay message"): one recorded update, answered once.

    take the inbox row (one more attempt) → the platform parses it (`Incoming`, or nothing to answer)
    a reply already decided by an earlier attempt? → send what is left of it, nothing else
    else decide the reply, store its parts in the outbox, then send them:
        not text (a photo, sticker, voice note, file …) → "text only, for now"; no agent turn
        a link command  → consume the token and bind the external user + chat (same transaction as
                          the stored confirmation, so a retry cannot find the token "used")
        an unlinked user → how to link; no agent turn
        a linked user   → wake the agent if it sleeps, typing indicator while it works, its whole
                          reply (`agent.answer`: held, metered and settled like web chat), split at
                          the platform's limit
    → the row `done` (or `ignored`)

Jobs of one external chat share a procrastinate lock (intake sets it), so a chat's messages are
answered in order and never two turns of one chat at once. Killed anywhere and run again, the job
ends with every part sent once (see `outbox`) and the agent asked at most once per finished turn.
"""

from __future__ import annotations

import logging
from typing import Any

from shared import logs
from shared.data import get_db
from shared.relays import agent, linking, outbox, split
from shared.relays.keepalive import typing
from shared.relays.models import Incoming
from shared.relays.platforms import ModuleSender, platform

log = logging.getLogger("openagents.relays")

PLATFORM_NAMES = {"telegram": "Telegram", "slack": "Slack", "whatsapp": "WhatsApp", "discord": "Discord"}


def how_to_link(relay: str) -> str:
    name = PLATFORM_NAMES.get(relay, relay)
    return (f"This {name} account isn't linked to an OpenAgents agent yet. Open your agent on OpenAgents, "
            f"choose Connect → {name}, and send the link message it gives you here.")


def linked_text(relay: str) -> str:
    name = PLATFORM_NAMES.get(relay, relay)
    return f"Linked! Messages you send here on {name} now go to your agent on OpenAgents."


EXPIRED = "That link code is unknown, expired or already used. Make a new one from your agent's page on OpenAgents."
TEXT_ONLY = "Sorry — I can only read text messages for now. Please send your message as text."


def process(inbox_id: int) -> str:
    """Handles one inbox row; returns what happened (for the job's log)."""
    with get_db().service() as tx:
        row = tx.one("relay_inbox_start", inbox_id=inbox_id)
    if row is None:
        return "already-done"
    relay: str = row["relay"]
    mod = platform(relay)
    fields = {"relay": relay, "inbox_id": inbox_id, "attempt": row["attempts"]}
    msg = mod.incoming(row["payload"])
    if msg is None:
        _finish(inbox_id, "ignored")
        logs.log(log, logging.INFO, "relay update ignored", **fields)
        return "ignored"
    outcome = "resumed"
    if not outbox.stored(inbox_id):
        outcome = _decide(mod, row, msg)
    report = outbox.deliver_all(relay, inbox_id, ModuleSender(mod))
    _finish(inbox_id, "done", None if not (report.failed or report.in_doubt) else "some parts were not sent")
    logs.log(log, logging.INFO, "relay update processed", outcome=outcome, sent=report.sent, already=report.already,
             in_doubt=report.in_doubt, settled=report.settled, failed=report.failed, skipped=report.skipped, **fields)
    return outcome


def _finish(inbox_id: int, status: str, error: str | None = None) -> None:
    with get_db().service() as tx:
        tx.execute("relay_inbox_finish", inbox_id=inbox_id, status=status, error=error)


def _store(mod: Any, msg: Incoming, inbox_id: int, texts: list[str], tx: Any = None) -> int:
    payloads = mod.outgoing(msg, texts)
    if tx is not None:
        outbox.store_in(tx, msg.relay, inbox_id, msg.chat_id, payloads)
    else:
        with get_db().service() as own:
            outbox.store_in(own, msg.relay, inbox_id, msg.chat_id, payloads)
    return len(payloads)


def _decide(mod: Any, row: dict[str, Any], msg: Incoming) -> str:
    inbox_id = int(row["id"])
    if msg.unsupported is not None:  # a photo, a voice note …: said so once, no agent turn
        _store(mod, msg, inbox_id, [TEXT_ONLY])
        logs.log(log, logging.INFO, "relay message not text", relay=msg.relay, kind=msg.unsupported)
        return "not-text"
    token = msg.link_token
    if token is not None:
        with get_db().service() as tx:
            instance_id = linking.consume_in(tx, msg.relay, token, external_user_id=msg.external_user_id,
                                             chat_id=msg.chat_id)
            _store(mod, msg, inbox_id, [linked_text(msg.relay) if instance_id else EXPIRED], tx)
        logs.log(log, logging.INFO, "relay link", relay=msg.relay, linked=instance_id is not None,
                 instance_id=instance_id)
        return "linked" if instance_id else "link-refused"
    with get_db().service() as tx:
        found = tx.one("relay_connection_route", relay=msg.relay, external_user_id=msg.external_user_id)
    if found is None:
        _store(mod, msg, inbox_id, [how_to_link(msg.relay)])
        return "unlinked"
    route = agent.Route(str(found["id"]), str(found["user_id"]), str(found["instance_id"]), found["status"])
    send_typing = getattr(mod, "typing", None)
    indicator = typing((lambda: send_typing(msg)) if send_typing else None, getattr(mod, "TYPING_EVERY_S", None))
    result = agent.answer(route, msg, inbox_id=inbox_id, attempt=int(row["attempts"]),
                          previous_turn=str(row["turn_id"]) if row["turn_id"] else None, typing=indicator)
    if result.text is not None:
        parts = split.split(result.text, mod.LIMIT)
        n = _store(mod, msg, inbox_id, parts)
        return "answered" if n else "not-answered"
    _store(mod, msg, inbox_id, [result.notice or agent.FAILED])
    return "notice"
