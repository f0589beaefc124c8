"""The bridge client against real machines (the bridge, offline runtime) behind the Fly emulator's proxy
and the SSE gateway: each call of the contract, and each branch of its exception tree."""

from __future__ import annotations

import socket
import threading

import pytest

from shared.bridge import protocol
from shared.bridge.client import (
    BridgeClient,
    BridgeNotConfigured,
    BridgeRefused,
    BridgeUnavailable,
    MachineTarget,
    bridge_client,
)
from shared.config import overridden
from shared.lifecycle import machine_target


def test_every_call_reaches_the_machine(hire_running, user):
    target = machine_target(hire_running(user))
    client = bridge_client()
    assert client.ready(target).ok and client.alive(target.app, target.machine_id).ok
    assert client.alive_all([(target.app, target.machine_id)], concurrency=4) == {target.machine_id: True}
    assert {"version", "files"} <= set(client.bundle_state(target))  # pushes: lifecycle/test_warm_pool.py

    with client.turn(target, turn_id="client-turn-1", session_key="web:client", message="TOKENS=3 hi") as events:
        names = [e.event for e in events if isinstance(e, protocol.Event)]
    assert names == [protocol.STATUS, *[protocol.TOKEN] * 3, protocol.DONE]

    written = client.write_file(target, "notes/plan.md", b"step 1\n")
    assert written.etag == f'"{written.meta["sha256"]}"' and written.meta["origin"] == "user"
    read = client.read_file(target, "notes/plan.md")
    assert read.content == b"step 1\n" and read.etag == written.etag and read.meta == written.meta
    assert written.meta in client.list_files(target)

    client.write_file(target, "notes/plan.md", b"step 2\n", if_match=written.etag)
    with pytest.raises(BridgeRefused) as stale:
        client.write_file(target, "notes/plan.md", b"step 3\n", if_match=written.etag)
    assert stale.value.status == 412 and not stale.value.retryable
    assert stale.value.problem is not None and stale.value.problem["status"] == 412
    assert client.read_file(target, "notes/plan.md").content == b"step 2\n"


def test_a_wrong_token_is_refused_and_liveness_needs_none(hire_running, user):
    real = machine_target(hire_running(user))
    forged = MachineTarget(real.instance_id, real.app, real.machine_id, "not-the-token")
    with pytest.raises(BridgeRefused) as refused:
        bridge_client().list_files(forged)
    assert refused.value.status == 401 and "not-the-token" not in str(refused.value)
    probe = bridge_client().ready(forged)
    assert (probe.ok, probe.status) == (False, 401)
    assert bridge_client().alive(real.app, real.machine_id).ok
    with pytest.raises(BridgeRefused) as turn:
        with bridge_client().turn(forged, turn_id="client-turn-2", session_key="web:client", message="hi"):
            pass
    assert turn.value.status == 401


def test_no_answer_and_no_configuration(chat_stack):
    target = MachineTarget("i", "oa-inst-x", "m1", "t" * 32)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        with overridden({"FLY_PROXY_BASE": f"http://127.0.0.1:{port}"}):
            client = BridgeClient()
            try:
                with pytest.raises(BridgeUnavailable) as unreachable:
                    client.list_files(target)
                assert unreachable.value.status is None and unreachable.value.detail == "ConnectError"
                probe = client.alive(target.app, target.machine_id)
                assert (probe.ok, probe.status, probe.detail) == (False, None, "ConnectError")
                assert client.alive_all([(target.app, "m1"), (target.app, "m2")], concurrency=2,
                                        retry_delay_s=0) == {"m1": False, "m2": False}
            finally:
                client.close()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts, never answers
        port = silent.getsockname()[1]
        with overridden({"FLY_PROXY_BASE": f"http://127.0.0.1:{port}", "HEALTH_PROBE_TIMEOUT_S": "0.3"}):
            probe = bridge_client().alive(target.app, target.machine_id)
            assert (probe.ok, probe.detail) == (False, "ReadTimeout")
    with overridden({"SSE_GATEWAY_URL": ""}):
        with pytest.raises(BridgeNotConfigured):
            with bridge_client().turn(target, turn_id="t1", session_key="web:s", message="hi"):
                pass


class _CountingConnections:
    """A transport that counts the TCP connections it opens (httpcore's `trace` extension)."""

    def __init__(self) -> None:
        import httpx

        self.inner = httpx.HTTPTransport()
        self.opened = 0

    def handle_request(self, request):  # type: ignore[no-untyped-def]
        def trace(name: str, info: object) -> None:
            if name == "connection.connect_tcp.started":
                self.opened += 1

        request.extensions["trace"] = trace
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def _until_done(events) -> list[str]:  # type: ignore[no-untyped-def]
    names = []
    for ev in events:  # as the relay reads: it stops at the terminal event
        if isinstance(ev, protocol.Event):
            names.append(ev.event)
            if ev.event in protocol.TERMINAL:
                break
    return names


def test_turns_read_to_their_terminal_event_leave_the_connection_for_the_next(hire_running, user):
    target = machine_target(hire_running(user))
    counting = _CountingConnections()
    client = BridgeClient(transport=counting)  # type: ignore[arg-type]  # duck-typed as httpx's transport
    try:
        for i in range(3):
            with client.turn(target, turn_id=f"reuse-{i}", session_key="web:reuse", message="TOKENS=2 hi") as events:
                assert _until_done(events)[-1] == protocol.DONE
        assert counting.opened == 1  # one connection to the gateway's edge for all three turns

        # Left before its end (a cancel): the stream is closed at once, and so is its connection.
        with client.turn(target, turn_id="reuse-left", session_key="web:reuse", message="TOKENS=50 hi") as events:
            next(iter(events))
        with client.turn(target, turn_id="reuse-after", session_key="web:reuse", message="TOKENS=2 hi") as events:
            assert _until_done(events)[-1] == protocol.DONE
        assert counting.opened == 2
    finally:
        client.close()


def test_what_follows_a_terminal_event_is_not_read_and_its_connection_is_dropped(chat_stack):
    """A machine that breaks the contract (an event after `done`, then a stream left open) cannot hold
    the caller: leaving the block stops at that event, and the connection is not reused."""
    import time

    release = threading.Event()

    def answer(conn: socket.socket) -> None:
        with conn:
            while b"\r\n\r\n" not in conn.recv(65536):
                pass
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            for raw in (protocol.format_event(protocol.TOKEN, {"text": "hi"}, 1),
                        protocol.format_event(protocol.DONE, {"usage": {}}, 2),
                        protocol.format_event(protocol.TOKEN, {"text": "after the end"}, 3)):
                conn.sendall(b"%x\r\n%s\r\n" % (len(raw), raw))
            release.wait(30)  # the stream is left open, never ended

    def broken_bridge(listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    threading.Thread(target=broken_bridge, args=(listener,), daemon=True).start()
    target = MachineTarget("i", "oa-inst-x", "m1", "t" * 32)
    counting = _CountingConnections()
    try:
        with overridden({"SSE_GATEWAY_URL": f"http://127.0.0.1:{listener.getsockname()[1]}"}):
            client = BridgeClient(transport=counting)  # type: ignore[arg-type]
            try:
                for i in range(2):
                    started = time.monotonic()
                    with client.turn(target, turn_id=f"broken-{i}", session_key="web:b", message="hi") as events:
                        assert _until_done(events) == [protocol.TOKEN, protocol.DONE]
                    assert time.monotonic() - started < 5  # not the 60 s read timeout
            finally:
                client.close()
        assert counting.opened == 2  # the first turn's connection was not kept
    finally:
        release.set()
        listener.close()
