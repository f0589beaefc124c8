"""The canary check and the stream guard's hold-back (shared.security.canary), without a database:
trips are covered end to end in tests/integration/chat/test_canary.py."""

from __future__ import annotations

from shared.security.canary import StreamGuard, _tail_prefix, contains
from shared.text import clean_message

CANARY = "oa-canary-0123456789abcdef0123456789abcdef"


def test_contains_ignores_ascii_case_only():
    assert contains(f"x {CANARY} y", CANARY)
    assert contains(CANARY.upper(), CANARY)
    assert not contains(CANARY[:-1], CANARY)
    assert not contains("anything", "")


def test_the_guard_holds_back_only_what_could_become_the_canary():
    guard = StreamGuard("i", CANARY)
    assert guard.feed("hello w") == "hello w"  # 'w' starts no canary
    assert guard.feed("orld, o") == "orld, "  # 'o' might: held
    assert guard.feed("k then") == "ok then"  # it did not: released with the next piece
    assert guard.feed(" oa-can") == " "
    assert guard.feed("dy") == "oa-candy"
    assert guard.feed(" OA-CANARY-01") == " "
    assert guard.finish() == "OA-CANARY-01"  # the end of the stream releases what was held
    assert guard.finish() == ""


def test_a_guard_without_a_canary_passes_everything():
    guard = StreamGuard("i", None)
    assert guard.feed("oa-canary-") == "oa-canary-" and guard.finish() == ""


def test_tail_prefix():
    assert _tail_prefix("xxoa-c", CANARY) == 4
    assert _tail_prefix("xx", CANARY) == 0
    assert _tail_prefix(CANARY[:-1], CANARY) == len(CANARY) - 1
    assert _tail_prefix("oo", CANARY) == 1


def test_clean_message_strips_what_hides_text():
    assert clean_message("a\x00b\x07c\td\r\ne") == "abc\td\r\ne"
    assert clean_message("left\u202eright\u2066x\u2069") == "leftrightx"
    assert clean_message("tag\U000e0041\U000e0042s") == "tags"  # Unicode tags: invisible ASCII
    assert clean_message("\ufeffbom\x7f\x85") == "bom"
    assert clean_message("family \U0001f468\u200d\U0001f469") == "family \U0001f468\u200d\U0001f469"  # ZWJ stays
    assert len(clean_message("x" * 40000)) == 32000
