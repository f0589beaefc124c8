"""Checks every value a request carries gets before anything else reads it.

Hostile input must end in a 4xx problem, never deep inside a library or the database:

    JSON nested deeper than MAX_JSON_DEPTH    → 400 `too-deep` (the parser would recurse until Python
                                                gives up; pydantic and jsonb would go on recursing)
    NUL, other C0 controls, lone surrogates   → 422 `validation-failed` with the value's location
                                                (Postgres refuses NUL in text and jsonb; a lone
                                                surrogate cannot be encoded as UTF-8 at all)

Paths and query strings are single-line by nature, so every control character is refused there;
bodies keep tab, line feed and carriage return, which text legitimately holds.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from shared.problems import Problem, bad_request

MAX_JSON_DEPTH = 64
# Latin-1 classes only: `re` compiles a class reaching the surrogates in pure Python, into a 64k-entry
# bitmap when it also holds Latin-1 ranges (~2 ms of every cold start). The surrogate class is compiled
# on the first non-ASCII value instead, and an ASCII string (a flag CPython keeps) never needs it.
_CONTROL_IN_BODY_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CONTROL_IN_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@functools.cache
def _surrogate() -> re.Pattern[str]:
    return re.compile(r"[\ud800-\udfff]")


def _has_surrogate(value: str) -> bool:
    return not value.isascii() and _surrogate().search(value) is not None


def _unstorable_text(value: str) -> bool:
    return _CONTROL_IN_BODY_TEXT.search(value) is not None or _has_surrogate(value)


def _unclean_line(value: str) -> bool:
    return _CONTROL_IN_LINE.search(value) is not None or _has_surrogate(value)


def _refused(loc: list[str | int], what: str) -> Problem:
    return Problem(422, "Unprocessable Content", f"The {loc[0]} is not valid.", code="validation-failed",
                   errors=[{"loc": [str(p) for p in loc], "msg": f"must not contain {what}", "type": "forbidden_character"}])


def check_line(value: str, loc: list[str | int]) -> None:
    """A path or query value: no control characters at all."""
    if _unclean_line(value):
        raise _refused(loc, "control characters")


def line_is_clean(value: str) -> bool:
    return not _unclean_line(value)


def load_json(raw: bytes | str, *, where: str = "body", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parses JSON and checks its shape: at most `max_depth` levels, no unstorable characters in any
    key or string. Raises 400 for what is not JSON or too deep, 422 for a forbidden character."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise _too_deep(where, max_depth) from None
    except (ValueError, UnicodeDecodeError):
        raise bad_request(f"The {where} is not valid JSON.", code="malformed-json") from None
    check_json(data, where=where, max_depth=max_depth)
    return data


def check_json(data: Any, *, where: str = "body", max_depth: int = MAX_JSON_DEPTH) -> None:
    # Iterative, so the check itself cannot be the thing that recurses too deep; each value keeps a
    # link to its parent's location, spelled out only for the error.
    stack: list[tuple[Any, int, _Loc]] = [(data, 1, (None, where))]
    while stack:
        value, depth, loc = stack.pop()
        if isinstance(value, str):
            if _unstorable_text(value):
                raise _refused(_spell(loc), _BODY_WHAT)
        elif isinstance(value, dict):
            if depth > max_depth:
                raise _too_deep(where, max_depth)
            for k, v in value.items():
                if _unstorable_text(k):
                    raise _refused([*_spell(loc), "(key)"], _BODY_WHAT)
                stack.append((v, depth + 1, (loc, k)))
        elif isinstance(value, list):
            if depth > max_depth:
                raise _too_deep(where, max_depth)
            stack.extend((v, depth + 1, (loc, i)) for i, v in enumerate(value))


_BODY_WHAT = "NUL, control characters or unpaired surrogates"
_Loc = tuple[Any, str | int]  # (parent location or None, key)


def _spell(loc: _Loc | None) -> list[str | int]:
    out: list[str | int] = []
    while loc is not None:
        loc, key = loc
        out.append(key)
    return out[::-1]


def _too_deep(where: str, max_depth: int) -> Problem:
    return bad_request(f"The {where} nests deeper than {max_depth} levels.", code="too-deep")
