"""Cursors decode to typed values or a 400 `invalid-cursor`, never to something a SQL cast chokes on."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from shared.pagination import decode_cursor, encode_cursor
from shared.problems import Problem


def _raw(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


def test_round_trip_gives_typed_values():
    at, ident = datetime(2026, 11, 25, 10, 30, tzinfo=UTC), uuid4()
    cursor = encode_cursor({"created_at": at, "id": ident})
    assert decode_cursor(cursor, ("created_at", "id")) == {"created_at": at, "id": ident}
    assert decode_cursor(encode_cursor({"id": 42}), {"id": int}) == {"id": 42}
    assert decode_cursor(encode_cursor({"sort_key": 3, "id": str(ident)}), ("sort_key", "id")) == {
        "sort_key": 3.0, "id": ident}
    assert decode_cursor(None, ("id",)) is None and decode_cursor("", ("id",)) is None


@pytest.mark.parametrize("cursor, keys", [
    (encode_cursor({"created_at": "nope", "id": str(uuid4())}), ("created_at", "id")),
    (encode_cursor({"created_at": 5, "id": str(uuid4())}), ("created_at", "id")),
    (encode_cursor({"id": "5"}), {"id": int}), (encode_cursor({"id": True}), {"id": int}),
    (encode_cursor({"id": 2**63}), {"id": int}), (encode_cursor({"id": 7}), {"id": UUID}),
    (encode_cursor({"sort_key": "x", "id": str(uuid4())}), ("sort_key", "id")),
    (_raw(b'{"sort_key": 1e999, "id": "00000000-0000-4000-8000-000000000001"}'), ("sort_key", "id")),
    (encode_cursor({"id": str(uuid4()), "extra": 1}), ("id",)), (encode_cursor({}), ("id",)),
    (_raw(b"[" * 5000 + b"]" * 5000), ("id",)), (_raw(b"\xff"), ("id",)), ("!!!", ("id",)),
    (encode_cursor({"name": "a\x00b"}), {"name": str}),
])
def test_forged_cursors_are_400(cursor, keys):
    with pytest.raises(Problem) as err:
        decode_cursor(cursor, keys)
    assert err.value.status == 400 and err.value.code == "invalid-cursor"


def test_a_cursor_is_plain_base64url_json():
    assert json.loads(base64.urlsafe_b64decode(encode_cursor({"id": 1}) + "==")) == {"id": 1}
