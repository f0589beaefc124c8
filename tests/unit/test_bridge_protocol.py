"""The bridge protocol's framing and file metadata, as both ends use them (shared/bridge/protocol.py)."""

from __future__ import annotations

import pytest

from shared.bridge import protocol


def _events(chunks: list[str]) -> list[protocol.Event | protocol.Comment]:
    return list(protocol.parse(protocol.split_lines(chunks)))


def test_events_survive_any_chunking_and_line_separator_characters() -> None:
    tricky = {"text": "a\u2028b\u2029c\x85d\ne\r\nf é 🙂"}
    stream = (protocol.format_event(protocol.TOKEN, tricky, 1) + protocol.HEARTBEAT
              + protocol.format_event(protocol.DONE, {"usage": {"input_tokens": 1, "output_tokens": 2}}, 2)).decode()
    # str.splitlines (as httpx's iter_lines) finds no line break the SSE grammar does not
    assert len(stream.splitlines()) == stream.count("\n") and "\r" not in stream
    expected = [protocol.Event("token", tricky, "1"), protocol.Comment("keepalive"),
                protocol.Event("done", {"usage": {"input_tokens": 1, "output_tokens": 2}}, "2")]
    assert _events([stream]) == expected
    for size in (1, 2, 3, 7):
        assert _events([stream[i:i + size] for i in range(0, len(stream), size)]) == expected, size


def test_line_ends_are_cr_lf_or_crlf_even_across_chunks() -> None:
    assert list(protocol.split_lines(["a\r", "\nb\rc\n", "\r\n", "d"])) == ["a", "b", "c", "", "d"]
    assert list(protocol.split_lines(["x\r"])) == ["x"]
    events = _events(["event: status\r\ndata: {\"state\"", ": \"running\"}\r", "\n\r\n"])
    assert events == [protocol.Event("status", {"state": "running"}, None)]


def test_multi_line_and_non_json_data_and_an_unterminated_tail() -> None:
    assert _events(["data: one\ndata: two\n\n", "event: x\ndata: {\"a\":1}"]) == [
        protocol.Event("message", "one\ntwo", None), protocol.Event("x", '{"a":1}', None)]


def test_problem_bodies() -> None:
    body = protocol.problem(412, "Precondition failed", "the file changed", code="x")
    assert body == {"type": "about:blank", "title": "Precondition failed", "status": 412,
                    "detail": "the file changed", "code": "x"}
    assert protocol.problem_detail(body) == "the file changed"
    assert protocol.problem_detail({"title": "only a title"}) == "only a title"
    assert protocol.problem_detail(None, "fallback") == "fallback"


def test_file_metadata_round_trips_through_headers() -> None:
    meta = {"path": "notes/a.md", "size": 3, "sha256": "ab" * 32, "modified_at": "2026-01-02T03:04:05.678901Z",
            "editable": True, "origin": "edited"}
    headers = protocol.file_headers(meta)
    assert headers[protocol.ETAG] == f'"{"ab" * 32}"'
    assert protocol.file_meta_from_headers("notes/a.md", {k.upper(): v for k, v in headers.items()}) == meta
    assert protocol.file_meta_from_headers("x", {})["sha256"] is None
    assert protocol.sha256_of_etag('W/"abc"') == "abc"


@pytest.mark.parametrize(("raw", "path"), [("notes/a b.md", "/v1/files/notes/a%20b.md"), ("a/%2F", "/v1/files/a/%252F")])
def test_paths_are_encoded_per_segment(raw: str, path: str) -> None:
    assert protocol.file_path(raw) == path
    assert protocol.turn_path("t/1") == "/v1/turns/t%2F1"
