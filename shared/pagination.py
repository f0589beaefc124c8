"""`{items, next_cursor}` pages with opaque keyset cursors (base64url JSON)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from shared.problems import bad_request

T = TypeVar("T")
MAX_LIMIT = 100


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next page.")


class PageQuery(BaseModel):
    model_config = {"extra": "forbid"}
    cursor: str | None = Field(default=None, max_length=500)
    limit: int = Field(default=20, ge=1, le=MAX_LIMIT)


def encode_cursor(values: dict[str, Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str | None, keys: tuple[str, ...]) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad_request("The cursor is not valid.", code="invalid-cursor") from None
    if not isinstance(values, dict) or set(values) != set(keys):
        raise bad_request("The cursor is not valid.", code="invalid-cursor")
    return values


def page_of(rows: list[dict[str, Any]], limit: int, key: tuple[str, ...], model: type[BaseModel]) -> dict[str, Any]:
    """Rows were fetched with limit+1: the extra row only tells whether another page exists."""
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode_cursor({k: rows[-1][k] for k in key}) if more and rows else None
    return {"items": [model.model_validate(r) for r in rows], "next_cursor": nxt}
