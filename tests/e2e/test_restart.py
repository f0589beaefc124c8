"""Restarting `make dev` keeps hired agents working: the Fly emulator's apps, machines and volumes
live in the data folder, so after a restart (a clean stop, or a SIGKILL that gives it no chance to
clean up) the chat works and the agent's files are intact, and a killed stack leaves nothing running."""

from __future__ import annotations

import functools
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.postgres import free_port
from tests.e2e.conftest import stack_env
from tests.support.dev_stack import DevStack, descendants, running
from tests.support.harness import HttpClient
from tests.support.polling import wait_for

_wait = functools.partial(wait_for, timeout=60.0)


@pytest.fixture
def stack(database: Any) -> Iterator[DevStack]:
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="oa-e2e-restart-data-")  # .data of its own, kept across restarts
    dev = DevStack(stack_env(database, "openagents_e2e_restart", port, OPENAGENTS_DATA_DIR=data_dir), port)
    try:
        yield dev
    finally:
        dev.close()


def _chat(http: HttpClient, auth: dict[str, str], instance: str, message: str) -> list[Any]:
    from shared.streaming import sse

    body = {"instance_id": instance, "message": message, "client_message_id": uuid.uuid4().hex}
    with http.stream("POST", "/api/chat/stream", json=body, headers=auth) as resp:
        assert resp.status_code == 200, resp.read()
        return [e for e in sse.parse(resp.iter_lines()) if isinstance(e, sse.Event)]


def _file(http: HttpClient, auth: dict[str, str], instance: str) -> str:
    r = http.get(f"/api/instances/{instance}/files/notes/today.md", headers=auth)
    assert r.status_code == 200, r.text
    return r.text


def test_agents_and_their_files_survive_a_restart_and_a_kill(stack: DevStack) -> None:
    base = stack.start()
    with HttpClient(base) as http:
        token = http.post("/api/dev/sign-in", json={"email": "e2e-restart@test.openagents.dev"}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        instance = http.post("/api/instances", json={"agent": "inbox-zero"}, headers=auth).json()["id"]
        _wait(lambda: http.get(f"/api/instances/{instance}", headers=auth).json()["status"] == "running")
        put = http.put(f"/api/instances/{instance}/files/notes/today.md", content=b"remember the milk",
                       headers={**auth, "Content-Type": "text/plain"})
        assert put.status_code == 200, put.text
        assert _chat(http, auth, instance, "hello before the restart")[-1].event == "done"

    # Ctrl-C: everything stops, in the reverse order of starting, quickly; nothing stays behind.
    assert stack.proc is not None
    started = descendants(stack.proc.pid)
    took = stack.stop()
    assert took < 15, f"stopping took {took:.1f} s"
    assert "Database error" not in stack.output()  # the worker stopped before Postgres/the emulator
    _wait(lambda: not any(running(p) for p in started), timeout=10)

    base = stack.start()
    with HttpClient(base) as http:
        assert http.get(f"/api/instances/{instance}", headers=auth).json()["status"] == "running"
        assert _file(http, auth, instance) == "remember the milk"
        events = _chat(http, auth, instance, "hello after the restart")
        assert events[0].event == "session" and events[-1].event == "done", events[-1]

    # SIGKILL: no cleanup of its own, yet nothing it started outlives it (suspended machines included).
    left = stack.kill()
    assert left, "the stack had started processes"
    _wait(lambda: not any(running(p) for p in left), timeout=15)

    base = stack.start()
    with HttpClient(base) as http:
        assert _file(http, auth, instance) == "remember the milk"
        assert _chat(http, auth, instance, "hello after the crash")[-1].event == "done"
