"""`FlyEmulator`: the API server and the proxy, on one event loop in a background thread.

    with FlyEmulator(mode="simulated") as fly:          # or .start() / .stop()
        client = fly.client()                           # a FlyClient pointed at fly.url
        ...  requests to machines go through fly.proxy_url

One loop serves both ports, so the proxy sees machine state changes at once and `wait` is woken by
the same events. Sockets are bound before the thread starts, so `url` and `proxy_url` are known
(port 0 picks free ports) and nothing but 127.0.0.1 is bound by default.

By default the world lives in memory and ends with `stop()` (tests, benchmarks). With `state_dir`
it is kept on disk (persist.py) and a new emulator on the same folder comes back like a rebooted
host: machines that were started boot again, suspended ones are stopped, volume contents are intact.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar

import uvicorn

from devstack.emulators.fly.api import build_api
from devstack.emulators.fly.faults import FaultConfig, FaultInjector
from devstack.emulators.fly.persist import StateStore
from devstack.emulators.fly.proxy import FlyProxy
from devstack.emulators.fly.runner import ProcessRunner, SimulatedRunner
from devstack.emulators.fly.state import EmulatorState
from devstack.emulators.fly.workload import Runner

if TYPE_CHECKING:
    from shared.fly import FlyClient

log = logging.getLogger("devstack.emulators.fly")
T = TypeVar("T")
Mode = Literal["process", "simulated"]


def _bind(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets that say they are
    # TCP, and without it keep-alive requests stall ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.set_inheritable(False)  # machine processes must not hold our listening sockets
    return sock


class FlyEmulator:
    """A local Fly Machines API (`url`, paths under /v1) plus Fly's edge proxy (`proxy_url`).

    mode: "process" runs each started machine as a local process (`machine_command`, default the
    stub server); "simulated" runs none and the proxy answers for machines itself.
    token: the bearer token the API requires (None accepts any bearer token; a missing one is 401).
    faults: initial fault settings (see `faults.py`); change them later with `set_faults`.
    autostop_idle_s: if set, started machines whose service has autostop stop/suspend after this
    much idle time without proxy traffic (Fly does it after a few minutes; off by default).
    state_dir: keep apps, volumes and machines in `<state_dir>/state.json` and bring them back on
    the next start (None: in memory only). `data_dir` (volumes, machine logs) defaults to it then.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        mode: Mode = "process",
        machine_command: Sequence[str] | str | None = None,
        *,
        proxy_port: int = 0,
        token: str | None = None,
        region: str = "iad",
        seed: int | None = None,
        faults: FaultConfig | dict[str, Any] | None = None,
        data_dir: Path | str | None = None,
        machine_env: Mapping[str, str] | None = None,
        autostop_idle_s: float | None = None,
        autostart_timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        allow_cross_network_replay: bool = True,
        state_dir: Path | str | None = None,
    ) -> None:
        if mode not in ("process", "simulated"):
            raise ValueError("mode must be 'process' or 'simulated'")
        self.host = host
        self.mode: Mode = mode
        self.token = token
        self.region = region
        self.machine_command = machine_command
        self.machine_env = dict(machine_env or {})
        self.autostop_idle_s = autostop_idle_s
        self.autostart_timeout_s = autostart_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.allow_cross_network_replay = allow_cross_network_replay
        initial = FaultConfig.model_validate(faults or {}) if not isinstance(faults, FaultConfig) else faults
        if seed is not None:
            initial = initial.model_copy(update={"seed": seed})
        self.faults = FaultInjector(initial)
        self._requested_ports = (port, proxy_port)
        self.state_dir = Path(state_dir) if state_dir else None
        data_dir = data_dir or self.state_dir
        self._data_dir = Path(data_dir) if data_dir else None
        self._own_data_dir = data_dir is None
        self._store: StateStore | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._state: EmulatorState | None = None
        self._sockets: list[socket.socket] = []

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._thread is not None:
            return self
        if self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="fly-emulator-"))
        self._data_dir.mkdir(parents=True, exist_ok=True)
        if self.state_dir is not None:
            self._store = StateStore(self.state_dir)
            self._store.lock()  # before anything else: two emulators on one folder would corrupt it
        self._sockets = [_bind(self.host, p) for p in self._requested_ports]
        self._thread = threading.Thread(target=self._thread_main, name="fly-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(15) or self._error is not None:
            self.stop()
            raise RuntimeError(f"fly emulator failed to start: {self._error!r}")
        log.info("fly emulator up", extra={"fields": {"url": self.url, "proxy_url": self.proxy_url, "mode": self.mode}})
        return self

    def stop(self) -> None:
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop_event.set)
            except RuntimeError:
                pass
        thread.join(20)
        self._thread = None
        for sock in self._sockets:
            sock.close()
        if self._store is not None:
            self._store.unlock()
            self._store = None
        if self._own_data_dir and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses ------------------------------------------------------------------------------

    def _port(self, i: int) -> int:
        if not self._sockets:
            raise RuntimeError("emulator not started")
        return int(self._sockets[i].getsockname()[1])

    @property
    def port(self) -> int:
        return self._port(0)

    @property
    def proxy_port(self) -> int:
        return self._port(1)

    def _base(self, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """Base URL of the Machines API (the client appends /v1)."""
        return self._base(self.port)

    @property
    def proxy_url(self) -> str:
        return self._base(self.proxy_port)

    @property
    def data_dir(self) -> Path:
        if self._data_dir is None:
            raise RuntimeError("emulator not started")
        return self._data_dir

    # --- helpers for tests and tools ------------------------------------------------------------

    def client(self, org_slug: str = "personal", **kwargs: Any) -> FlyClient:
        from shared.fly import FlyClient

        return FlyClient(self.url, self.token or "emulator-token", org_slug, **kwargs)

    def set_faults(self, reset: bool = False, **rules: Any) -> dict[str, Any]:
        self.faults.update(rules, reset=reset)
        return self.faults.snapshot()

    def clear_faults(self) -> None:
        self.faults.reset()

    def call(self, fn: Callable[[EmulatorState], T], timeout: float = 10.0) -> T:
        """Run `fn(state)` on the emulator's loop (the only safe place to touch the state)."""
        if self._loop is None or self._state is None:
            raise RuntimeError("emulator not started")
        state = self._state

        async def run() -> T:
            return fn(state)

        future: Future[T] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(timeout)

    def counts(self) -> dict[str, Any]:
        """Apps, volumes, machines by state, active leases, live processes (what `/_emulator/state` says)."""
        return self.call(lambda s: s.counts())

    def api_calls(self, *, reset: bool = False) -> dict[str, int]:
        """Requests answered since the start (or the last reset), by Machines API operation (the route
        names of `api.py`) plus `proxy` for requests through the edge proxy."""

        def read(s: EmulatorState) -> dict[str, int]:
            calls = dict(s.calls)
            if reset:
                s.calls.clear()
            return calls

        return self.call(read)

    def machine_address(self, machine_id: str) -> tuple[str, int] | None:
        """Where a process-mode machine listens (bypassing the proxy, like 6PN would)."""

        def find(s: EmulatorState) -> tuple[str, int] | None:
            m = s.machines.get(machine_id)
            return s.runner.address(m) if m else None

        return self.call(find)

    # --- the thread -----------------------------------------------------------------------------

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as e:  # surfaced by start()
            self._error = e
            log.exception("fly emulator crashed")
        finally:
            self._ready.set()

    def _runner(self) -> Runner:
        if self.mode == "simulated":
            return SimulatedRunner()
        assert self._data_dir is not None
        return ProcessRunner(self._data_dir, self.machine_command, extra_env=self.machine_env, host=self.host)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        runner = self._runner()
        state = EmulatorState(runner, self.faults)
        runner.bind(state.on_exit)
        store = self._store
        booting = store.load(state) if store is not None else []
        if store is not None:
            state.on_change = store.changed
        self._state = state
        proxy = FlyProxy(
            state,
            region=self.region,
            autostart_timeout_s=self.autostart_timeout_s,
            connect_timeout_s=self.connect_timeout_s,
            allow_cross_network_replay=self.allow_cross_network_replay,
        )
        servers = [
            uvicorn.Server(
                uvicorn.Config(
                    app,
                    lifespan="off",
                    log_level="warning",
                    access_log=False,
                    timeout_graceful_shutdown=1,
                    timeout_keep_alive=30,
                    backlog=4096,
                )
            )
            for app in (build_api(state, self.faults, self.token), proxy)
        ]
        tasks = [asyncio.create_task(s.serve(sockets=[sock])) for s, sock in zip(servers, self._sockets, strict=True)]
        while not all(s.started for s in servers):
            for t in tasks:
                if t.done():
                    t.result()  # raises what stopped it
                    raise RuntimeError("server exited during startup")
            await asyncio.sleep(0.005)
        if self.autostop_idle_s:
            state.spawn(state.autostop_loop(self.autostop_idle_s))
        state.boot(booting)
        self._ready.set()
        await self._stop_event.wait()
        for s in servers:
            s.should_exit = True
        if store is not None:
            store.flush()  # what ran, as it ran: the next start boots it again
            state.on_change = None  # stopping processes for shutdown is no change of the world
        await state.shutdown()
        await asyncio.gather(*tasks, return_exceptions=True)
        await proxy.aclose()
        if store is not None:
            store.flush()  # without the pids of processes that are gone now
