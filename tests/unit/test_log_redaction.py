"""The redactor's ASCII-compiled pattern masks exactly what the Unicode one masks, on the text it is used for."""

from __future__ import annotations

import json
import random
import re

from shared import logs

UNICODE = re.compile(logs._SHAPES_PATTERN)
PIECES = ["Bearer ", "bearer\t", "BEARER  ", "sk_live_", "SK_TEST_", "rk_live_", "pk_Test_", "whsec_", "WHSEC_",
          "xoxb-", "XOXP-", "xoxa-", "eyJ", "EYJ", "abcdefgh", "ABCDEFGH1234", "0123456789", ".", "-", "_", "+", "/",
          "=", "~", " ", "\n", "\x0b", "\x0c", "\r", "\"", ":", "x", "é", "\x1f", "\u00a0", "\u212a"]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 14)))


def test_the_ascii_pattern_is_used_only_where_it_means_the_same() -> None:
    rng = random.Random(14)
    ascii_seen = 0
    for _ in range(20_000):
        text = _text(rng)
        if logs._shapes(text) is logs._SHAPES_ASCII:
            ascii_seen += 1
            assert logs._SHAPES_ASCII.sub("#", text) == UNICODE.sub("#", text), repr(text)
        else:
            assert not text.isascii() or any(c in text for c in "\x1c\x1d\x1e\x1f")
    assert ascii_seen > 1000


def test_redact_masks_shapes_and_registered_values() -> None:
    logs.register_secrets(["s3cr3t-value-xyz"])
    line = json.dumps({"msg": "Authorization: Bearer abcdefgh123 sk_live_ABCDEFGH12 s3cr3t-value-xyz é"})
    out = logs.redact(line)
    assert "abcdefgh123" not in out and "sk_live_ABCDEFGH12" not in out and "s3cr3t" not in out
    assert "Bearer [REDACTED]" in out
    # Text the ASCII pattern is not used for still gets the Unicode pattern's reading.
    assert logs.redact("Bearer\u00a0abcdefgh123 é") == "Bearer\u00a0[REDACTED] é"
    assert logs.redact("token=\u212aey sk_live_ABCDEFGH12") == "token=\u212aey [REDACTED]"
