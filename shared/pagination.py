"""`{items, next_cursor}` pages with opaque keyset cursors (base64url JSON).

A cursor comes back from the client, so it is input like any other: decoding checks that it holds
exactly the page's keys and that each value has the key's type (a timestamp, a UUID, a bigint, a
finite number) before any of it reaches a SQL cast. Anything else is a 400 `invalid-cursor`, never a
database error.
"""

import base64
import binascii
import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field

from shared.models import Model
from shared.problems import Problem, bad_request

T = TypeVar("T")
MAX_LIMIT = 100
_BIGINT = 2**63 - 1

# A page's keys with their types, or just their names (then the names say the types: see decode_cursor).
CursorKeys = Mapping[str, type] | tuple[str, ...]


class Page(Model, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next page.")


class PageQuery(Model):
    model_config = {"extra": "forbid"}
    cursor: str | None = Field(default=None, max_length=500)
    limit: int = Field(default=20, ge=1, le=MAX_LIMIT)


def encode_cursor(values: dict[str, Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _invalid() -> Problem:
    return bad_request("The cursor is not valid.", code="invalid-cursor")


def _key_type(name: str) -> type:
    if name.endswith("_at"):
        return datetime
    if name == "id" or name.endswith("_id"):
        return UUID
    return float


def _typed(value: Any, kind: type) -> Any:
    """The value as `kind`, or `_invalid()`; bools are never numbers here (JSON keeps them apart)."""
    if kind is datetime and isinstance(value, str):
        return datetime.fromisoformat(value)
    if kind is UUID and isinstance(value, str):
        return UUID(value)
    if kind is int and type(value) is int and -_BIGINT - 1 <= value <= _BIGINT:
        return value
    if kind is float and type(value) in (int, float) and math.isfinite(value):
        return float(value)
    if kind is str and isinstance(value, str) and "\x00" not in value:
        return value
    raise ValueError(f"not a {kind.__name__}")


def decode_cursor(cursor: str | None, keys: CursorKeys) -> dict[str, Any] | None:
    """The cursor's values by key, each converted to its type (`keys` maps names to datetime, UUID,
    int, float or str; a bare tuple of names types them by name: `*_at` timestamps, `id`/`*_id`
    UUIDs, anything else a number)."""
    if not cursor:
        return None
    kinds = dict(keys) if isinstance(keys, Mapping) else {k: _key_type(k) for k in keys}
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise _invalid() from None
    if not isinstance(values, dict) or set(values) != set(kinds):
        raise _invalid()
    try:
        return {k: _typed(values[k], kind) for k, kind in kinds.items()}
    except (ValueError, TypeError, OverflowError):
        raise _invalid() from None


def page_of(rows: list[dict[str, Any]], limit: int, key: tuple[str, ...], model: type[BaseModel]) -> dict[str, Any]:
    """Rows were fetched with limit+1: the extra row only tells whether another page exists."""
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode_cursor({k: rows[-1][k] for k in key}) if more and rows else None
    return {"items": [model.model_validate(r) for r in rows], "next_cursor": nxt}
