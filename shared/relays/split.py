"""Cutting a reply into parts that fit a platform's message limit.

Cuts fall, in order of preference, between paragraphs (a blank line), between lines, after a
sentence (`.`, `!`, `?`, `…` followed by a space), between words, and only for a single word longer
than the limit inside it. Whitespace at a cut is dropped; no part is empty. The same text always
gives the same parts, so an outbox key `(update, part number)` names the same bytes on a retry.
"""

from __future__ import annotations

import re

# Where a cut may fall, best first: the position after the separator starts the next part.
_SEPARATORS = (re.compile(r"\n[ \t]*\n\s*"), re.compile(r"\n\s*"), re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"')\]]))\s+"),
               re.compile(r"\s+"))


def split(text: str, limit: int) -> list[str]:
    """`text` in parts of at most `limit` characters (an empty text gives no parts)."""
    if limit < 1:
        raise ValueError("limit must be positive")
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if len(rest) <= limit:
            parts.append(rest)
            break
        cut, resume = _best_cut(rest, limit)
        parts.append(rest[:cut].rstrip())
        rest = rest[resume:].lstrip()
    return [p for p in parts if p]


def _best_cut(text: str, limit: int) -> tuple[int, int]:
    """(end of this part, start of the next) for a text longer than `limit`."""
    window = text[: limit + 1]  # a separator starting right at the limit still counts
    for sep in _SEPARATORS:
        best: tuple[int, int] | None = None
        for m in sep.finditer(window):
            if 0 < m.start() <= limit:
                best = (m.start(), m.end())
        # A cut in the first fifth would make a tiny part: look for a finer separator instead.
        if best is not None and best[0] >= limit // 5:
            return best
    return limit, limit
