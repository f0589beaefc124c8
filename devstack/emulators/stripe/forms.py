"""Stripe's form encoding: `a[b][0][c]=x` into nested dicts and lists.

stripe-python encodes every v1 request this way (lists always indexed: `items[0][price]=…`); other
clients send `expand[]=…`, which is accepted too. An index-keyed level becomes a list ordered by
index; free-form maps (`metadata`, `payload`) stay dicts even when their keys are digits.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from .errors import StripeError

# Maps whose keys are the caller's own, never list indexes.
FREE_FORM = frozenset({"metadata", "payload"})

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
_APPEND = object()


def parse_form(body: bytes | str) -> dict[str, Any]:
    text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
    return parse_pairs(parse_qsl(text, keep_blank_values=True))


def parse_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for raw_key, value in pairs:
        path = _split(raw_key)
        _insert(root, path, value, raw_key)
    return _listify(root, parent=None)


def _split(raw_key: str) -> list[Any]:
    match = _KEY.match(raw_key)
    if not match:
        raise StripeError.invalid(f"Invalid parameter name: {raw_key}", param=raw_key)
    parts: list[Any] = [match.group(1)]
    for part in _PART.findall(match.group(2)):
        parts.append(_APPEND if part == "" else part)
    return parts


def _insert(node: dict[str, Any], path: list[Any], value: str, raw_key: str) -> None:
    *parents, last = path
    for part in parents:
        if part is _APPEND:
            # `a[][b]=…` opens a new element per occurrence; rarely sent, kept simple.
            part = str(len(node))
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise StripeError.invalid(f"Invalid parameter: {raw_key} mixes a value and a hash", param=raw_key)
        node = child
    if last is _APPEND:
        last = str(len(node))
    if isinstance(node.get(last), dict):
        raise StripeError.invalid(f"Invalid parameter: {raw_key} mixes a value and a hash", param=raw_key)
    node[last] = value


def _listify(node: Any, parent: str | None) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v, k) for k, v in node.items()}
    if parent not in FREE_FORM and converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted
