"""The local Fly emulator itself: its proxy (autostart, fly-replay, streaming), faults, admin
endpoints, process handling, and simulated mode at scale.

API calls go through `FlyClient` + `SpecCheckingTransport`, so every response the emulator gives here
is validated against Fly's OpenAPI file too.
"""

from __future__ import annotations

import functools
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.emulators.fly import FlyEmulator
from devstack.emulators.fly.proxy import parse_replay
from devstack.emulators.fly.spec_check import FlySpec, SpecCheckingTransport, find_spec, load_spec
from shared.fly import INSTANCE_METADATA_KEY, FlyClient, Machine, MachineConfig, build_agent_machine_config
from tests.support.harness import CANARIES, HttpClient
from tests.support.polling import wait_for

_until = functools.partial(wait_for, timeout=5.0, every=0.02)

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = find_spec()
TOKEN = CANARIES["FLY_API_TOKEN"]
MODES = ["simulated", "process"]


def _config(instance: str = "inst", **fields: object) -> MachineConfig:
    """The agent config without a volume, with top-level fields replaced."""
    config = build_agent_machine_config("img:test", {}, "vol_unused", metadata={INSTANCE_METADATA_KEY: instance})
    return MachineConfig.model_validate({**config.to_api(), "mounts": None, **fields})


@pytest.fixture(scope="module")
def spec() -> FlySpec:
    return load_spec(SPEC_PATH)


@pytest.fixture(scope="module", params=MODES)
def fly(request: pytest.FixtureRequest) -> Iterator[FlyEmulator]:
    with FlyEmulator(mode=request.param, token=TOKEN, seed=11) as emulator:
        yield emulator


@pytest.fixture
def checker(spec: FlySpec) -> Iterator[SpecCheckingTransport]:
    transport = SpecCheckingTransport(spec)
    yield transport
    assert transport.violations == [], "\n".join(transport.violations)


@pytest.fixture
def client(fly: FlyEmulator, checker: SpecCheckingTransport) -> Iterator[FlyClient]:
    fly.clear_faults()
    with fly.client(transport=checker, retries=2, backoff_initial=0.001) as c:
        yield c
    fly.clear_faults()


@contextmanager
def checked_client(fly: FlyEmulator, spec: FlySpec, **kwargs: Any) -> Iterator[FlyClient]:
    transport = SpecCheckingTransport(spec)
    with fly.client(transport=transport, **kwargs) as c:
        yield c
    assert transport.violations == [], "\n".join(transport.violations)


@pytest.fixture
def edge(fly: FlyEmulator) -> Iterator[HttpClient]:
    with HttpClient(fly.proxy_url) as c:
        yield c


def _app_with_machine(client: FlyClient, config: MachineConfig | None = None) -> tuple[str, Machine]:
    name = f"em-{uuid.uuid4().hex[:10]}"
    client.create_app(name)
    machine = client.create_machine(name, "agent", "iad", config or _config())
    client.wait(name, machine.id, "started", 10)
    return name, machine


# --- proxy: routing and autostart -----------------------------------------------------------------


def test_proxy_routes_by_header_path_and_host(client: FlyClient, edge: HttpClient) -> None:
    app, m = _app_with_machine(client)
    by_header = edge.post("/echo?x=1", headers={"fly-force-instance-id": m.id}, content=b"hi").json()
    assert (by_header["machine_id"], by_header["path"], by_header["query"], by_header["body"]) == (m.id, "/echo", "x=1", "hi")
    assert by_header["headers"]["fly-client-ip"] == "127.0.0.1" and "fly-request-id" in by_header["headers"]
    assert edge.get(f"/_app/{app}/echo").json()["path"] == "/echo"
    assert edge.get(f"/_machine/{m.id}/deep/path").json()["path"] == "/deep/path"
    assert edge.get("/echo", headers={"host": f"{app}.fly.dev"}).json()["machine_id"] == m.id
    assert edge.get("/echo", headers={"host": f"{app}.localhost:1234"}).json()["machine_id"] == m.id
    assert edge.get("/echo", headers={"host": "nope.fly.dev"}).status_code == 404
    assert edge.get("/echo").status_code == 404
    client.delete_app(app)


def test_forced_instance_stays_within_the_app_the_request_entered(client: FlyClient, edge: HttpClient) -> None:
    """Fly's proxy routes `fly-force-instance-id` only among the machines of the app whose hostname
    the request came in on: another app's machine is as unknown as a machine that does not exist."""
    app_a, a = _app_with_machine(client)
    app_b, b = _app_with_machine(client)
    unknown = edge.get(f"/_app/{app_a}/echo", headers={"fly-force-instance-id": "0" * 14})
    for entry in ({"path": f"/_app/{app_a}/echo"}, {"path": "/echo", "host": f"{app_a}.fly.dev"},
                  {"path": "/echo", "host": f"{app_a}.flycast"}):
        headers = {"fly-force-instance-id": b.id, **({"host": entry["host"]} if "host" in entry else {})}
        r = edge.post(entry["path"], headers=headers, content=b"for b")
        assert r.status_code == 404 and r.headers["fly-proxy-error"] == "instance_not_found", r.text
        assert "machine_id" not in r.json()  # answered by the proxy, not by b
        assert (r.status_code, r.headers["fly-proxy-error"]) == (unknown.status_code, unknown.headers["fly-proxy-error"])
    # Within its own app it is routed, the app prefix stripped.
    own = edge.get(f"/_app/{app_b}/echo", headers={"fly-force-instance-id": b.id}).json()
    assert (own["machine_id"], own["path"]) == (b.id, "/echo")
    assert edge.get("/echo", headers={"fly-force-instance-id": a.id, "host": f"{app_a}.fly.dev"}).json()["machine_id"] == a.id
    client.delete_app(app_a)
    client.delete_app(app_b)


def test_proxy_autostarts_stopped_and_suspended_machines(fly: FlyEmulator, client: FlyClient, edge: HttpClient) -> None:
    app, m = _app_with_machine(client)
    route = {"fly-force-instance-id": m.id}
    client.stop(app, m.id)
    client.wait(app, m.id, "stopped", 10)
    assert edge.get("/health", headers=route).json() == {"ok": True}
    after_stop = client.get_machine(app, m.id)
    assert after_stop.state == "started" and after_stop.events[0].source == "fly-proxy"

    pid = _pid(fly, m.id)
    client.suspend(app, m.id)
    client.wait(app, m.id, "suspended", 10)
    if pid is not None:  # process mode: suspended = SIGSTOPped, resumed = the same process continued
        _until(lambda: _proc_state(pid) == "T")
    assert edge.get("/health", headers={"host": f"{app}.fly.dev"}).status_code == 200
    assert client.get_machine(app, m.id).state == "started"
    assert _pid(fly, m.id) == pid

    client.update_machine(app, m.id, _config(services=[{"internal_port": 8080, "protocol": "tcp", "autostart": False}]))
    client.wait(app, m.id, "started", 10)
    client.stop(app, m.id)
    client.wait(app, m.id, "stopped", 10)
    assert edge.get("/health", headers=route).status_code == 503  # autostart off: Fly leaves it down
    client.delete_app(app)


def _pid(fly: FlyEmulator, machine_id: str) -> int | None:
    def find(state: object) -> int | None:
        handle = getattr(state, "runner")._procs.get(machine_id) if fly.mode == "process" else None  # noqa: B009
        return handle.process.pid if handle and handle.process else None

    return fly.call(find)


def _proc_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]


# --- proxy: fly-replay ----------------------------------------------------------------------------


def test_fly_replay_to_another_apps_machine(client: FlyClient, edge: HttpClient) -> None:
    gateway, gw = _app_with_machine(client)
    agent, target = _app_with_machine(client)
    client.stop(agent, target.id)  # the replay target must be woken too
    client.wait(agent, target.id, "stopped", 10)
    body = b"x" * 10_000
    response = edge.post(
        "/v1/chat?turn=1",
        headers={"fly-force-instance-id": gw.id, "x-stub-replay": f"app={agent};instance={target.id};state=tok123", "x-custom": "kept"},
        content=body,
    )
    echo = response.json()
    assert response.status_code == 200 and echo["machine_id"] == target.id and echo["app"] == agent
    assert (echo["method"], echo["path"], echo["query"], echo["body"]) == ("POST", "/v1/chat", "turn=1", body.decode())
    src = parse_replay(echo["headers"]["fly-replay-src"])
    assert (src["instance"], src["state"]) == (gw.id, "tok123") and int(src["t"]) > 0
    assert echo["headers"]["x-custom"] == "kept" and "fly-replay" not in response.headers
    assert client.get_machine(agent, target.id).state == "started"
    client.delete_app(gateway)
    client.delete_app(agent)


def test_fly_replay_json_form_with_transform_and_fallback(client: FlyClient, edge: HttpClient) -> None:
    gateway, gw = _app_with_machine(client)
    agent, target = _app_with_machine(client)
    instruction = {
        "app": agent,
        "instance": target.id,
        "transform": {"path": "/rewritten", "delete_headers": ["x-drop"], "set_headers": [{"name": "x-set", "value": "1"}]},
    }
    echo = edge.get(
        "/orig", headers={"fly-force-instance-id": gw.id, "x-stub-replay-json": json.dumps(instruction), "x-drop": "gone"}
    ).json()
    assert (echo["machine_id"], echo["path"], echo["headers"].get("x-set")) == (target.id, "/rewritten", "1")
    assert "x-drop" not in echo["headers"]

    # No such target: with fallback the origin gets the request back, flagged; without it, an error.
    fallback = edge.get("/again", headers={"fly-force-instance-id": gw.id, "x-stub-replay": "app=no-such-app;fallback=prefer_self"})
    failed = parse_replay(fallback.json()["headers"]["fly-replay-failed"])
    assert fallback.json()["machine_id"] == gw.id and failed["reason"] == "no_candidate"
    assert edge.get("/x", headers={"fly-force-instance-id": gw.id, "x-stub-replay": "app=no-such-app"}).status_code == 503
    big = edge.post("/x", headers={"fly-force-instance-id": gw.id, "x-stub-replay": f"app={agent}"}, content=b"x" * ((1 << 20) + 1))
    assert big.status_code == 502  # bodies over 1 MB cannot be replayed
    client.delete_app(gateway)
    client.delete_app(agent)


def test_replay_cache_hit_miss_bypass_and_invalidation(client: FlyClient, edge: HttpClient) -> None:
    """Fly's replay cache (CONTRACTS §A.5): the origin's `fly-replay-cache` pattern sends later
    matching requests straight to the target; bypass, invalidation and a dead target go back to it."""
    gateway, gw = _app_with_machine(client)
    agent, target = _app_with_machine(client)

    def cacheable(prefix: str, ttl: str = "30", replay: str = f"app={agent};instance={target.id}") -> dict[str, str]:
        return {"x-stub-replay": replay, "x-stub-fly-replay-cache": f"127.0.0.1/r/{prefix}/*",
                "x-stub-fly-replay-cache-ttl-secs": ttl, "x-stub-fly-replay-cache-allow-bypass": "yes"}

    def ask(prefix: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = edge.post(f"/_app/{gateway}/r/{prefix}/v1/turns", headers=headers or {}, content=b"{}")
        assert response.status_code == 200, response.text
        echoed: dict[str, Any] = response.json()
        return echoed

    first = ask("k1", cacheable("k1"))
    assert first["machine_id"] == target.id and first["headers"]["fly-replay-cache-status"] == "miss"
    assert "fly-replay-src" in first["headers"]
    hit = ask("k1")  # no replay asked for: only the cache can send it to the agent
    assert hit["machine_id"] == target.id and hit["headers"]["fly-replay-cache-status"] == "hit"
    assert "fly-replay-src" not in hit["headers"] and hit["path"] == "/r/k1/v1/turns"
    # Another path is not covered; a client cannot claim a hit.
    other = ask("k2", {"fly-replay-cache-status": "hit"})
    assert other["machine_id"] == gw.id and "fly-replay-cache-status" not in other["headers"]
    # Bypass, allowed by the origin: the origin is asked again.
    skipped = ask("k1", {"fly-replay-cache-control": "skip", **cacheable("k1")})
    assert skipped["headers"]["fly-replay-cache-status"] == "bypass" and "fly-replay-src" in skipped["headers"]
    # Not cached: a TTL under 10 s, a replay with `state`, a pattern that does not match the request.
    ask("k3", cacheable("k3", ttl="5"))
    ask("k4", cacheable("k4", replay=f"app={agent};instance={target.id};state=s"))
    ask("k5", {**cacheable("k5"), "x-stub-fly-replay-cache": "127.0.0.1/elsewhere/*"})
    assert all(ask(p)["machine_id"] == gw.id for p in ("k3", "k4", "k5"))
    # The target invalidates (replaying back to the origin): the next request asks the origin.
    back = ask("k1", {"x-stub-invalidate": f"app={gateway}"})
    assert back["machine_id"] == gw.id and "fly-replay-src" in back["headers"]
    assert ask("k1")["machine_id"] == gw.id
    # A target that is gone: the entry is dropped and the origin asked, never a dead machine.
    ask("k6", cacheable("k6"))
    assert ask("k6")["machine_id"] == target.id
    client.delete_app(agent)
    assert ask("k6")["machine_id"] == gw.id
    client.delete_app(gateway)


def test_parse_replay_header() -> None:
    assert parse_replay('app=a;instance=m1;region="iad,ord";state=s') == {"app": "a", "instance": "m1", "region": "iad,ord", "state": "s"}
    assert parse_replay("app=a,state=k") == {"app": "a", "state": "k"}


# --- proxy: streaming -----------------------------------------------------------------------------


def test_proxy_streams_chunks_as_they_arrive(fly: FlyEmulator, client: FlyClient) -> None:
    app, m = _app_with_machine(client)
    interval, n = 0.08, 6
    arrivals: list[float] = []
    started = time.monotonic()
    with httpx.stream("GET", f"{fly.proxy_url}/stream?n={n}&interval={interval}", headers={"fly-force-instance-id": m.id}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        data = b""
        for chunk in r.iter_raw():
            arrivals.append(time.monotonic() - started)
            data += chunk
    total = time.monotonic() - started
    assert data.count(b"data: ") == n
    assert total >= (n - 1) * interval and arrivals[0] < total - 2 * interval  # first event long before the end
    assert len(arrivals) >= n - 1  # arrived in pieces, not as one buffered body
    client.delete_app(app)


def test_client_disconnect_releases_the_upstream(fly: FlyEmulator, client: FlyClient) -> None:
    app, m = _app_with_machine(client)
    with httpx.stream("GET", f"{fly.proxy_url}/stream?n=200&interval=0.05", headers={"fly-force-instance-id": m.id}) as r:
        next(r.iter_raw())
    deadline = time.monotonic() + 3
    while fly.call(lambda s: s.machines[m.id].inflight) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fly.call(lambda s: s.machines[m.id].inflight) == 0
    client.delete_app(app)


# --- faults and machine behaviour -----------------------------------------------------------------


def test_crash_restarts_by_policy_or_stops(fly: FlyEmulator, client: FlyClient) -> None:
    fly.set_faults(crash={"count": 1, "after_s": 0.05})
    app, m = _app_with_machine(client)
    _until(lambda: any(e.type == "exit" for e in client.get_machine(app, m.id).events))
    client.wait(app, m.id, "started", 10)  # on-failure: restarted
    exit_event = next(e for e in client.get_machine(app, m.id).events if e.type == "exit")
    assert exit_event.request and exit_event.request["exit_event"]["restarting"] is True

    fly.set_faults(crash={"count": 1, "after_s": 0.05})
    no_restart = _config("inst-2", restart={"policy": "no"})
    other = client.create_machine(app, "fragile", "iad", no_restart)
    client.wait(app, other.id, "started", 10)
    assert client.wait(app, other.id, "stopped", 10).state == "stopped"
    client.delete_app(app)


def test_slow_start_stays_starting(fly: FlyEmulator, client: FlyClient) -> None:
    app, m = _app_with_machine(client)
    client.stop(app, m.id)
    client.wait(app, m.id, "stopped", 10)
    fly.set_faults(slow_start={"delay_s": 0.25, "count": 1})
    started = time.monotonic()
    client.start(app, m.id)
    assert client.get_machine(app, m.id).state == "starting"
    client.wait(app, m.id, "started", 10)
    assert time.monotonic() - started >= 0.24
    client.delete_app(app)


def test_suspend_needs_an_eligible_machine(client: FlyClient) -> None:
    from shared.fly import FlyPreconditionFailed

    big = _config(guest={"cpu_kind": "shared", "cpus": 1, "memory_mb": 4096})
    app, m = _app_with_machine(client, big)
    with pytest.raises(FlyPreconditionFailed, match="2 GB"):
        client.suspend(app, m.id)
    with pytest.raises(FlyPreconditionFailed):
        client.start(app, m.id)  # already started
    client.delete_app(app)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url).json() == {"ok": True}
    except httpx.TransportError:
        return False


# --- admin endpoints and auth ---------------------------------------------------------------------


def test_admin_endpoints_and_auth(fly: FlyEmulator) -> None:
    with HttpClient(fly.url) as http:
        assert http.get("/v1/apps", params={"org_slug": "personal"}).status_code == 401
        assert http.get("/v1/apps", params={"org_slug": "personal"}, headers={"Authorization": "Bearer nope"}).status_code == 401
        unknown = http.get("/v1/nothing", headers={"Authorization": f"Bearer {TOKEN}"})
        assert unknown.status_code == 404 and unknown.json() == {"error": "not found"}

        faults = http.post("/_emulator/faults", json={"rate_limit": {"count": 1, "ops": ["list_apps"]}, "seed": 3}).json()
        assert faults["config"]["rate_limit"]["count"] == 1 and faults["config"]["seed"] == 3
        limited = http.get("/v1/apps", params={"org_slug": "personal"}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert limited.status_code == 429 and float(limited.headers["retry-after"]) > 0
        assert http.get("/_emulator/faults").json()["fired"]["rate_limit"] == 1
        assert http.post("/_emulator/faults", json={"bogus": 1}).status_code == 400
        assert http.delete("/_emulator/faults").json()["config"]["rate_limit"]["count"] == 0
        state = http.get("/_emulator/state").json()
        assert {"apps", "volumes", "machines", "machines_total", "leases", "processes"} <= state.keys()


def test_faults_are_deterministic_with_a_seed(spec: FlySpec) -> None:
    def run() -> list[int]:
        with FlyEmulator(mode="simulated", seed=42, faults={"server_error": {"probability": 0.5}}) as fly:
            transport = SpecCheckingTransport(spec)
            with httpx.Client(base_url=fly.url, headers={"Authorization": "Bearer t"}, transport=transport) as http:
                codes = [http.get("/v1/apps", params={"org_slug": "o"}).status_code for _ in range(20)]
            assert transport.violations == []
            return codes

    first = run()
    assert first == run() and {200, 500} == set(first)


# --- processes ------------------------------------------------------------------------------------


def test_process_mode_runs_real_processes_and_cleans_up(spec: FlySpec) -> None:
    checker = SpecCheckingTransport(spec)
    with FlyEmulator(mode="process", token=TOKEN) as fly, fly.client(transport=checker) as client:
        app, m = _app_with_machine(client)
        pid = _pid(fly, m.id)
        assert pid is not None and os.path.exists(f"/proc/{pid}")
        host, port = fly.machine_address(m.id) or ("", 0)
        # Direct, like 6PN (no proxy, so no connect retries): `started` is not "listening" yet.
        _until(lambda: _answers(f"http://{host}:{port}/health"))
        client.stop(app, m.id, signal="SIGTERM", timeout=2)
        client.wait(app, m.id, "stopped", 10)
        _until(lambda: not os.path.exists(f"/proc/{pid}") or _proc_state(pid) == "Z")
        client.start(app, m.id)
        client.wait(app, m.id, "started", 10)
        running = _pid(fly, m.id)
        log_file = fly.data_dir / "machines" / f"{m.id}.log"
    assert running is not None and not os.path.exists(f"/proc/{running}")  # stop() killed it
    assert not log_file.exists()  # the temporary data dir is gone
    assert checker.violations == []


def test_a_machine_command_that_cannot_run_fails_the_machine(spec: FlySpec) -> None:
    with FlyEmulator(mode="process", machine_command=["/nonexistent/binary"]) as fly, checked_client(fly, spec) as client:
        client.create_app("broken")
        m = client.create_machine("broken", "agent", "iad", _config())
        assert client.wait("broken", m.id, "failed", 10).state == "failed"


def test_cli_serves_until_terminated() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack.emulators.fly", "--port", "0", "--mode", "simulated", "--token", "cli-token"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        transport = SpecCheckingTransport(load_spec(SPEC_PATH))
        with FlyClient(info["api"], "cli-token", "personal", transport=transport) as client:
            assert client.list_apps() == []
        assert transport is None or transport.violations == []
        assert httpx.get(info["proxy"] + "/x").status_code == 404
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        if proc.stdout is not None:
            proc.stdout.close()


# --- autostop and scale ---------------------------------------------------------------------------


def test_autostop_suspends_idle_machines_and_traffic_wakes_them(spec: FlySpec) -> None:
    with FlyEmulator(mode="simulated", autostop_idle_s=0.2) as fly, checked_client(fly, spec) as client:
        app, m = _app_with_machine(client)
        assert client.wait(app, m.id, "suspended", 5).state == "suspended"
        assert httpx.get(f"{fly.proxy_url}/_app/{app}/health").status_code == 200
        events = client.get_machine(app, m.id).events  # newest first
        kinds = [(e.type, e.source) for e in events]
        assert kinds.index(("start", "fly-proxy")) < kinds.index(("suspend", "fly-proxy"))


def test_simulated_mode_holds_thousands_of_machines(spec: FlySpec) -> None:
    apps, per_app = 20, 100
    with FlyEmulator(mode="simulated", token=TOKEN) as fly:
        clients = [fly.client(retries=1) for _ in range(4)]
        names = [f"bulk-{uuid.uuid4().hex[:8]}-{i}" for i in range(apps)]

        def fill(i: int) -> list[str]:
            client = clients[i % len(clients)]
            client.create_app(names[i])
            return [client.create_machine(names[i], f"m{j}", "iad", _config(f"{i}-{j}")).id for j in range(per_app)]

        started = time.monotonic()
        with ThreadPoolExecutor(len(clients)) as pool:
            ids = [mid for batch in pool.map(fill, range(apps)) for mid in batch]
        created_s = time.monotonic() - started
        assert len(ids) == apps * per_app
        _until(lambda: fly.counts()["machines"].get("started") == apps * per_app)

        listed = list(clients[0].list_org_machines(state="started"))  # two pages of 1,000
        assert len(listed) == apps * per_app and len({m.id for m in listed}) == apps * per_app

        with httpx.Client(base_url=fly.proxy_url) as edge:
            for mid in random.Random(1).sample(ids, 200):  # noqa: S311
                assert edge.get("/health", headers={"fly-force-instance-id": mid}).status_code == 200

        # Bulk traffic skips the spec check (it triples the cost per call); a checked sample covers
        # the bulk answers' shapes.
        sample = SpecCheckingTransport(spec)
        with fly.client(transport=sample) as checked:
            assert len(checked.list_machines(names[0], summary=True)) == per_app
        assert sample.violations == []

        for name in names:
            clients[0].delete_app(name)
        assert fly.counts()["machines_total"] == 0 and fly.counts()["apps"] == 0
        for c in clients:
            c.close()
    # Speed is the benchmarks' business (`openagents bench sweeps`); this bound only catches a
    # pathological slowdown (e.g. quadratic bookkeeping), not a loaded machine: it was 10.6 s with a
    # callgrind run beside the suite.
    assert created_s < 120, f"creating {apps * per_app} machines took {created_s:.1f}s"


def test_proxy_resends_when_a_pooled_connection_was_closed_under_it() -> None:
    """The machine's server resets a kept-alive connection as the next request arrives (its idle
    timeout racing the proxy's): the proxy sends the request again on a fresh connection instead of
    cutting the caller off (what made 1 of 200 concurrent benchmark streams end without tokens)."""
    machine = [sys.executable, "-I", str(REPO_ROOT / "tests" / "support" / "keepalive_race_machine.py")]
    with FlyEmulator(mode="process", machine_command=machine, token=TOKEN) as fly, fly.client() as client:
        app, m = _app_with_machine(client)
        with httpx.Client(base_url=f"{fly.proxy_url}/_app/{app}", headers={"fly-force-instance-id": m.id}) as edge:
            _until(lambda: edge.get("/warm").status_code == 200)
            for i in range(20):
                r = edge.post(f"/again/{i}", content=b"x" * 100)
                assert r.status_code == 200, r.text
                assert r.json() == {"machine_id": m.id, "path": f"/again/{i}"}
