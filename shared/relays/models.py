"""What relays pass around, and the errors a send can end in.

    InboxRecord   one inbound update as intake records it (relay, platform id, external chat, payload)
    Incoming      one message as the processing job reads it: who, which chat, the text, where to reply

Sending fails in one of these ways (what `outbox` acts on):

    RelaySendError
    ├── RateLimited     the platform said "slow down"; `retry_after` seconds (its own figure when it gave one)
    │   └── StatusPending   a part in doubt whose fate the platform has not told yet: look again later
    ├── OutsideWindow   WhatsApp: the 24-hour customer-service window is closed for free-form messages
    └── SendRefused     anything else the platform refused; `retryable` for its 5xx and network failures,
                        `maybe_sent` when the request may have arrived all the same (the part stays in doubt)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

Relay = Literal["telegram", "whatsapp", "slack", "discord"]
RELAYS: tuple[Relay, ...] = ("telegram", "whatsapp", "slack", "discord")

# `link <token>`, `/link <token>` and Telegram's deep-link `/start <token>` (tokens are base64url).
# Compiled on first use (`re` keeps it): only the processing job reads it, and a case-insensitive
# pattern takes ~2 ms to compile, which every webhook function's cold start paid at import.
_LINK = r"^\s*/?(?:link|start)(?:@\w+)?\s+([A-Za-z0-9_-]{16,64})\s*$"


def link_token_in(text: str) -> str | None:
    """The link token a message carries, if it is a link command."""
    m = re.match(_LINK, text or "", re.IGNORECASE)
    return m.group(1) if m else None


@dataclass(frozen=True, slots=True)
class InboxRecord:
    """One platform update as intake records it, before anything reads it."""

    relay: Relay
    platform_id: str  # the platform's own id of the update: the dedupe key
    chat_id: str  # the external chat: the processing job's lock
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message from a chat platform, in the shape every relay gives it."""

    relay: Relay
    external_user_id: str
    chat_id: str  # our key of the external chat (one agent session per chat)
    text: str
    sent_at: float | None = None  # unix seconds, as the platform stamped the message
    reply_to: dict[str, Any] = field(default_factory=dict)  # platform addressing for the answer
    name: str = ""  # the sender's display name, for the session title
    unsupported: str | None = None  # a message the agent cannot read (a photo, a voice note …): what it is

    @property
    def link_token(self) -> str | None:
        return link_token_in(self.text)


@dataclass(frozen=True, slots=True)
class Doubt:
    """A part found `sending`: what the outbox knows of the send that may or may not have happened."""

    key: str  # the part's idempotency key, sent along where the platform carries one back
    payload: dict[str, Any]
    started_at: float | None  # unix seconds, when `sending` was committed
    platform_status: str | None = None  # WhatsApp: the latest status webhook for the key
    platform_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a platform says of a part in doubt: `sent` (found; `answer` as a send would give it),
    `resend` (it never arrived, or the platform deduplicates), or `unknown` (nobody can tell)."""

    outcome: Literal["sent", "resend", "unknown"]
    answer: dict[str, Any] = field(default_factory=dict)
    why: str = ""


class RelaySendError(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class RateLimited(RelaySendError):
    def __init__(self, retry_after: float, detail: str = "rate limited") -> None:
        super().__init__(f"{detail} (retry after {retry_after:g} s)")
        self.retry_after = max(0.0, float(retry_after))


class StatusPending(RateLimited):
    """Not a refusal: the platform reports a send's fate asynchronously (WhatsApp's status webhooks)
    and it has not yet; the job runs again after `retry_after` (its retry strategy treats it as a
    rate limit)."""


class OutsideWindow(RelaySendError):
    pass


class SendRefused(RelaySendError):
    """`maybe_sent`: the request may have reached the platform before the failure (a read timeout, a
    dropped connection — not a refused connect), so trying again blindly could send the part twice."""

    def __init__(self, detail: str, *, retryable: bool = False, status: int | None = None,
                 maybe_sent: bool = False) -> None:
        super().__init__(detail)
        self.retryable = retryable
        self.status = status
        self.maybe_sent = maybe_sent
