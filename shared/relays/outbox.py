"""Exactly-once replies (`relay_outbox`): every part is recorded before it is sent and after.

    store_in(tx, relay, inbox_id, chat_id, payloads)   the parts of a reply, decided once (status pending)
    stored(inbox_id)                                   what was decided earlier, by part
    deliver_all(relay, inbox_id, platform)             send every part not yet sent, in order

A part moves `pending` → `sending` (committed just before the platform call) → `sent` (with what the
platform answered). A retry of the job skips `sent` parts. Everything a send needs but the HTTP
exchange itself — the client, python-telegram-bot's `initialize()` (getMe, which also opens the
connection), the request and its JSON — is made by `Sender.prepare` *before* `sending` is committed,
so a job can only die "in the middle" of a send during the exchange.

A part found `sending` is *in doubt*: the job died after telling the platform, or just before. The
platform module settles it where the platform makes that possible (`Sender.resolve`):

    Discord    re-sent: the edit of the deferred reply is idempotent and channel messages carry an
               enforced nonce, so Discord deduplicates
    Slack      looked up: every part carries its key in message `metadata`; the channel's (or thread's)
               history since the send began says whether it arrived → `sent` with its `ts`, or sent now
    WhatsApp   every part carries its key as `biz_opaque_callback_data`, which Meta's status webhooks
               echo (`platform_status`): a status → `sent`; none yet → `StatusPending`, the job looks
               again later; none after WHATSAPP_DOUBT_WAIT_S → it never reached Meta, sent now
    Telegram   cannot be settled: the Bot API has no idempotency key for bots and a bot cannot read a
               chat's history. The part is marked `failed` ("in doubt") and logged, never sent twice —
               at most once, for the length of one HTTP exchange; that is the remaining gap.

Rate limits: a `RateLimited` answer puts the part back to `pending`; a wait up to MAX_INLINE_WAIT_S is
slept here, a longer one ends the job with `RateLimited` and the job's retry strategy runs it again
after the platform's `retry_after`. A part whose platform refused it for good is `failed`; WhatsApp's
closed 24-hour window is `skipped` — both logged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared import logs
from shared.data import Tx, get_db
from shared.relays.models import Doubt, OutsideWindow, RateLimited, SendRefused, Verdict

log = logging.getLogger("openagents.relays")

MAX_INLINE_WAIT_S = 10.0


class Sender(Protocol):
    def prepare(self, payload: dict[str, Any], key: str) -> Callable[[], dict[str, Any]]:
        """Everything before the wire; the returned call is the HTTP exchange alone."""
        ...

    def resolve(self, doubt: Doubt) -> Verdict: ...


@dataclass(frozen=True, slots=True)
class Report:
    sent: int = 0
    already: int = 0
    in_doubt: int = 0
    failed: int = 0
    skipped: int = 0
    settled: int = 0  # parts in doubt that the platform showed had arrived


def part_key(relay: str, inbox_id: int, part: int) -> str:
    return f"{relay}:{inbox_id}:{part}"


def store_in(tx: Tx, relay: str, inbox_id: int, chat_id: str, payloads: Sequence[dict[str, Any]]) -> None:
    for i, payload in enumerate(payloads):
        tx.one("relay_outbox_claim", relay=relay, key=part_key(relay, inbox_id, i), chat_id=chat_id[:200],
               payload=json.dumps(payload, separators=(",", ":")), inbox_id=inbox_id, part=i)


def stored(inbox_id: int) -> list[dict[str, Any]]:
    with get_db().service() as tx:
        return tx.all("relay_outbox_of_inbox", inbox_id=inbox_id)


def _set(query: str, **params: Any) -> None:
    with get_db().service() as tx:
        tx.execute(query, **params)


def deliver_all(relay: str, inbox_id: int, sender: Sender, *, sleep: Callable[[float], None] = time.sleep,
                max_inline_wait_s: float = MAX_INLINE_WAIT_S) -> Report:
    sent = already = in_doubt = failed = skipped = settled = 0
    for row in stored(inbox_id):
        outcome = _deliver_one(relay, inbox_id, row, sender, sleep=sleep, max_inline_wait_s=max_inline_wait_s)
        sent += outcome == "sent"
        already += outcome == "already"
        in_doubt += outcome == "in-doubt"
        failed += outcome == "failed"
        skipped += outcome == "skipped"
        settled += outcome == "settled"
        if outcome in ("failed", "in-doubt") and row["part"] == 0:
            # The rest of a reply whose beginning is missing would read as nonsense: stop here.
            for later in stored(inbox_id):
                if later["part"] > 0 and later["status"] == "pending":
                    _set("relay_outbox_failed", id=later["id"], status="skipped", error="an earlier part failed")
                    skipped += 1
            break
    return Report(sent, already, in_doubt, failed, skipped, settled)


def _deliver_one(relay: str, inbox_id: int, row: dict[str, Any], sender: Sender, *, sleep: Callable[[float], None],
                 max_inline_wait_s: float) -> str:
    status = row["status"]
    if status == "sent":
        return "already"
    if status in ("failed", "skipped"):
        return str(status)
    payload = row["payload"]
    key = str(row.get("idempotency_key") or part_key(relay, inbox_id, int(row["part"])))
    fields = {"relay": relay, "inbox_id": inbox_id, "part": row["part"]}
    if status == "sending":
        # StatusPending (the platform has not said yet) propagates: the part stays `sending`.
        verdict = sender.resolve(Doubt(key, payload, row.get("started_at"), row.get("platform_status"),
                                       row.get("platform_message_id")))
        if verdict.outcome == "sent":
            _set("relay_outbox_sent", id=row["id"], response=json.dumps(verdict.answer, default=str))
            logs.log(log, logging.INFO, "relay reply part in doubt had arrived", why=verdict.why, **fields)
            return "settled"
        if verdict.outcome == "unknown":
            _set("relay_outbox_failed", id=row["id"], status="failed",
                 error=f"in doubt: the job stopped during this send; {verdict.why}"[:500])
            logs.log(log, logging.WARNING, "relay reply part in doubt, not sent again", why=verdict.why, **fields)
            return "in-doubt"
        logs.log(log, logging.INFO, "relay reply part in doubt, sent again", why=verdict.why, **fields)
    waited = 0.0
    while True:
        try:
            send = sender.prepare(payload, key)
            _set("relay_outbox_sending", id=row["id"])
            answer = send()
        except RateLimited as exc:
            _set("relay_outbox_back", id=row["id"], error=exc.detail[:500])
            logs.log(log, logging.WARNING, "relay rate limited", retry_after=exc.retry_after, **fields)
            if waited + exc.retry_after > max_inline_wait_s:
                raise
            sleep(exc.retry_after)
            waited += exc.retry_after
            continue
        except OutsideWindow as exc:
            _set("relay_outbox_failed", id=row["id"], status="skipped", error=exc.detail[:500])
            logs.log(log, logging.WARNING, "relay reply not sent: outside the platform's messaging window",
                     detail=exc.detail, **fields)
            return "skipped"
        except SendRefused as exc:
            if exc.retryable and exc.maybe_sent:
                # Left `sending`: the retry settles it like a part whose job died mid-send.
                logs.log(log, logging.WARNING, "relay send interrupted, part in doubt", detail=exc.detail, **fields)
                raise
            if exc.retryable:
                _set("relay_outbox_back", id=row["id"], error=exc.detail[:500])
                raise
            _set("relay_outbox_failed", id=row["id"], status="failed", error=exc.detail[:500])
            logs.log(log, logging.WARNING, "relay reply refused by the platform", detail=exc.detail, **fields)
            return "failed"
        _set("relay_outbox_sent", id=row["id"], response=json.dumps(answer, default=str))
        return "sent"
