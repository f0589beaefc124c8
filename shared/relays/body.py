"""Reading a webhook's JSON body with the checks every body gets (`shared.web.inputs.load_json`), on
a fast path for the common case.

A platform's update is small and flat; walking it for forbidden characters costs more than the
database insert it feeds. The walk is skipped exactly when it cannot find anything: strict JSON has
no raw control characters in strings and valid UTF-8 no lone surrogates, so a forbidden character can
only arrive as a `\\u` escape — absent from the bytes, nothing to find; and a body with fewer brackets
than the depth limit cannot nest past it. Anything else takes the full check.
"""

from __future__ import annotations

import json
from typing import Any

from shared.web.inputs import MAX_JSON_DEPTH, load_json


def load_body(raw: bytes, *, where: str) -> Any:
    if b"\\u" not in raw and raw.count(b"{") + raw.count(b"[") < MAX_JSON_DEPTH:
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            pass  # the full path answers the problem
    return load_json(raw, where=where)
