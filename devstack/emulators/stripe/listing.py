"""Stripe list envelopes (cursor pagination) and `expand[]`.

Lists are newest first with `limit` (default 10, 1–100), `starting_after`, `ending_before`;
stripe-python's auto-paging follows the list's `url` with `starting_after`, so `url` must be the
path that lists the same items.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .errors import StripeError
from .params import as_int, as_list
from .store import Store

# Fields that exist only when expanded, e.g. checkout.session's `line_items`:
# (object type, field) -> builder(store, obj) -> value.
VIRTUAL_FIELDS: dict[tuple[str, str], Callable[[Store, dict[str, Any]], Any]] = {}


def list_envelope(url: str, data: list[dict[str, Any]], has_more: bool = False) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def paginate(url: str, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    limit = as_int(params, "limit", default=10)
    assert limit is not None
    if not 1 <= limit <= 100:
        raise StripeError.invalid(
            f"Invalid limit: must be at least 1 and less than or equal to 100 (got {limit})", param="limit"
        )
    after, before = params.get("starting_after"), params.get("ending_before")
    ids = [item["id"] for item in items]
    if after:
        start = _position(ids, after, "starting_after") + 1
        page = items[start : start + limit]
        has_more = start + limit < len(items)
    elif before:
        end = _position(ids, before, "ending_before")
        page = items[max(0, end - limit) : end]
        has_more = end - limit > 0
    else:
        page, has_more = items[:limit], len(items) > limit
    return list_envelope(url, page, has_more)


def _position(ids: list[str], cursor: str, param: str) -> int:
    try:
        return ids.index(cursor)
    except ValueError:
        raise StripeError.invalid(
            f"No such object: '{cursor}'", param=param, code="resource_missing"
        ) from None


def expand(store: Store, obj: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A copy of `obj` with each `expand[]` path's id replaced by the object it names."""
    paths = [p for p in as_list(params, "expand") if isinstance(p, str) and p]
    if not paths:
        return obj
    result = copy.deepcopy(obj)
    for path in paths:
        _expand(store, result, path.split("."), path)
    return result


def _expand(store: Store, node: Any, parts: list[str], path: str) -> None:
    if not parts or not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    if node.get("object") == "list" and head == "data":
        for item in node.get("data", []):
            _expand(store, item, rest, path)
        return
    virtual = VIRTUAL_FIELDS.get((str(node.get("object")), head))
    if virtual is not None:
        node[head] = virtual(store, node)
    elif head not in node:
        raise StripeError.invalid(f"This property cannot be expanded ({path}).", param="expand")
    value = node[head]
    if isinstance(value, str):
        target = store.find(value)
        if target is None:
            # ids of things the fake never materialises (txn_…, pm_…) stay ids.
            return
        node[head] = value = copy.deepcopy(target)
    if isinstance(value, list):
        for item in value:
            _expand(store, item, rest, path)
    else:
        _expand(store, value, rest, path)
