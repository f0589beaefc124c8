"""A chunked upload is held to the same limit as one with a Content-Length (issue 9: it was cut to
1 MiB and accepted). Over the real HTTP server, which de-chunks the body before the app sees it."""

from __future__ import annotations

from collections.abc import Iterator

from shared.chat.files import MAX_FILE_BYTES


def _chunks(total: int, piece: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        n = min(piece, total - sent)
        sent += n
        yield b"z" * n


def test_chunked_file_over_the_limit_is_413_and_writes_nothing(chat_stack, hire_running, user):
    instance = hire_running(user)
    url = f"/api/instances/{instance}/files/notes/big.txt"
    with chat_stack.http() as http:
        over = http.put(url, content=_chunks(MAX_FILE_BYTES + 1), headers=user.headers)
        assert over.request.headers.get("transfer-encoding") == "chunked"
        assert over.status_code == 413, over.text[:200]
        assert over.headers["content-type"].startswith("application/problem+json")
        assert http.get(url, headers=user.headers).status_code == 404  # nothing written

        exact = http.put(url, content=_chunks(MAX_FILE_BYTES), headers=user.headers)
        assert exact.status_code == 200, exact.text[:200]
        assert exact.json()["size"] == MAX_FILE_BYTES
        again = http.put(url, content=_chunks(MAX_FILE_BYTES + 1), headers=user.headers)
        assert again.status_code == 413
        got = http.get(url, headers=user.headers)
        assert got.status_code == 200 and len(got.content) == MAX_FILE_BYTES  # the refused write changed nothing
