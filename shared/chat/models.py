"""Chat API shapes."""

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import ConfigDict, Field

from shared.models import Model
from shared.text import MAX_MESSAGE_CHARS, ChatText


class ChatRequest(Model):
    model_config = ConfigDict(extra="forbid")
    instance_id: UUID
    session_id: UUID | None = None
    # Control characters are refused by the web layer; invisible ones (bidi overrides, Unicode tags)
    # are removed here (shared.text.clean_message).
    message: ChatText = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    client_message_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$",
                                   description="Idempotency key: re-sending it attaches to the same turn.")


class TurnUsage(Model):
    """What one turn used, recorded once in `usage_events` (source `bridge:<turn>`) however it ended."""

    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    model: str = ""
    compute_seconds: float = Field(ge=0)

    def tokens(self) -> dict[str, int]:
        """`done.usage` (fixed shape)."""
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}


class SessionOut(Model):
    id: UUID
    instance_id: UUID
    title: str
    channel: str
    created_at: datetime
    last_message_at: datetime


class MessageOut(Model):
    id: UUID
    turn_id: UUID | None
    role: str
    content: str
    tool_events: list[dict[str, Any]]
    input_tokens: int
    output_tokens: int
    created_at: datetime


class HistoryQuery(Model):
    model_config = ConfigDict(extra="forbid")
    cursor: str | None = Field(default=None, max_length=500)
    limit: int = Field(default=50, ge=1, le=200)
