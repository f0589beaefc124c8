"""FlyClient against the local emulator, with every exchange checked against Fly's OpenAPI file.

Every client here sends through `SpecCheckingTransport`: each request the client makes and each
response the emulator gives is validated against `fly-machines-openapi.json` (tolerated gaps of the
spec: see test_fly_spec.py), and a test fails if anything did not conform. Responses also go to the
suite's recorder, so the secret-canary check covers them; the API token is the canary Fly token.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.emulators.fly import FlyEmulator
from devstack.emulators.fly.spec_check import FlySpec, SpecCheckingTransport, find_spec, load_spec
from shared.fly import (
    INSTANCE_METADATA_KEY,
    FlyAPIError,
    FlyCapacityError,
    FlyClient,
    FlyConflict,
    FlyNotFound,
    FlyPreconditionFailed,
    FlyTimeout,
    FlyTransientError,
    FlyUnauthorized,
    MachineConfig,
    build_agent_machine_config,
)
from tests.support.harness import CANARIES, RECORDER, HttpClient

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = find_spec()
TOKEN = CANARIES["FLY_API_TOKEN"]
IMAGE = "registry.fly.io/openagents-agent:test"


class Recorded(httpx.BaseTransport):
    """Real HTTP, with each response handed to the suite's recorder (secret canary check)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        RECORDER.response(request.method, request.url.path, response.status_code, response.headers, response.content)
        return response

    def close(self) -> None:
        self.inner.close()


def _name(prefix: str = "oa") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _config(instance: str, volume_id: str | None = None, **env: str) -> MachineConfig:
    config = build_agent_machine_config(IMAGE, env, volume_id or "vol_unused", metadata={INSTANCE_METADATA_KEY: instance})
    return config if volume_id else config.model_copy(update={"mounts": None})


@pytest.fixture(scope="module")
def spec() -> FlySpec:
    return load_spec(SPEC_PATH)


@pytest.fixture(scope="module")
def fly() -> Iterator[FlyEmulator]:
    with FlyEmulator(mode="simulated", token=TOKEN, seed=7) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    if "fly" in request.fixturenames:
        emulator: FlyEmulator = request.getfixturevalue("fly")
        emulator.clear_faults()
        yield
        emulator.clear_faults()
    else:
        yield


@pytest.fixture
def checker(spec: FlySpec) -> Iterator[SpecCheckingTransport]:
    transport = SpecCheckingTransport(spec, Recorded())
    yield transport
    assert transport.violations == [], "requests/responses not conforming to the Fly spec:\n" + "\n".join(transport.violations)


@pytest.fixture
def client(fly: FlyEmulator, checker: SpecCheckingTransport) -> Iterator[FlyClient]:
    with fly.client(transport=checker, retries=3, backoff_initial=0.001, backoff_max=0.01) as c:
        yield c


def _count(checker: SpecCheckingTransport, method: str, spec_path: str) -> int:
    return sum(n for (m, p, _), n in checker.seen.items() if m == method and p == spec_path)


# --- the whole lifecycle, in both emulator modes --------------------------------------------------

LIFECYCLE_OPS = {
    ("POST", "/apps"),
    ("GET", "/apps"),
    ("GET", "/apps/{app_name}"),
    ("DELETE", "/apps/{app_name}"),
    ("POST", "/apps/{app_name}/volumes"),
    ("GET", "/apps/{app_name}/volumes"),
    ("GET", "/apps/{app_name}/volumes/{volume_id}"),
    ("DELETE", "/apps/{app_name}/volumes/{volume_id}"),
    ("POST", "/apps/{app_name}/volumes/{volume_id}/snapshots"),
    ("GET", "/apps/{app_name}/volumes/{volume_id}/snapshots"),
    ("POST", "/apps/{app_name}/machines"),
    ("GET", "/apps/{app_name}/machines"),
    ("GET", "/apps/{app_name}/machines/{machine_id}"),
    ("POST", "/apps/{app_name}/machines/{machine_id}"),
    ("DELETE", "/apps/{app_name}/machines/{machine_id}"),
    ("POST", "/apps/{app_name}/machines/{machine_id}/start"),
    ("POST", "/apps/{app_name}/machines/{machine_id}/stop"),
    ("POST", "/apps/{app_name}/machines/{machine_id}/suspend"),
    ("POST", "/apps/{app_name}/machines/{machine_id}/restart"),
    ("GET", "/apps/{app_name}/machines/{machine_id}/wait"),
    ("POST", "/apps/{app_name}/machines/{machine_id}/lease"),
    ("GET", "/apps/{app_name}/machines/{machine_id}/lease"),
    ("DELETE", "/apps/{app_name}/machines/{machine_id}/lease"),
    ("GET", "/apps/{app_name}/machines/{machine_id}/metadata"),
    ("PATCH", "/apps/{app_name}/machines/{machine_id}/metadata"),
    ("PUT", "/apps/{app_name}/machines/{machine_id}/metadata"),
    ("GET", "/apps/{app_name}/machines/{machine_id}/metadata/{key}"),
    ("POST", "/apps/{app_name}/machines/{machine_id}/metadata/{key}"),
    ("DELETE", "/apps/{app_name}/machines/{machine_id}/metadata/{key}"),
    ("GET", "/orgs/{org_slug}/machines"),
}


@pytest.mark.parametrize("mode", ["simulated", "process"])
def test_full_lifecycle(spec: FlySpec, mode: str) -> None:
    checker = SpecCheckingTransport(spec, Recorded())
    with (
        FlyEmulator(mode=mode, token=TOKEN) as fly,  # type: ignore[arg-type]
        fly.client(transport=checker, retries=2, backoff_initial=0.001) as client,
        HttpClient(fly.proxy_url) as edge,
    ):
        app_name, instance = _name(), f"inst-{uuid.uuid4().hex[:8]}"
        app = client.create_app(app_name, network=f"{app_name}-net")
        assert (app.name, app.network, app.organization and app.organization.slug) == (app_name, f"{app_name}-net", "personal")
        assert client.get_app(app_name).id == app.id
        assert app_name in {a.name for a in client.list_apps()}

        vol = client.create_volume(app_name, "data", "iad", 1)
        assert [v.id for v in client.list_volumes(app_name)] == [vol.id]

        config = _config(instance, vol.id, OPENCLAW_STATE_DIR="/data", GREETING="hello")
        machine = client.create_machine(app_name, "agent", "iad", config)
        assert machine.state == "created" and machine.metadata[INSTANCE_METADATA_KEY] == instance
        assert client.wait(app_name, machine.id, "started", 10).state == "started"
        assert client.get_volume(app_name, vol.id).attached_machine_id == machine.id

        route = {"fly-force-instance-id": machine.id}
        assert edge.get("/health", headers=route).json() == {"ok": True}
        env = edge.get("/env", headers=route).json()
        assert env["GREETING"] == "hello" and env["FLY_MACHINE_ID"] == machine.id
        if mode == "process":  # the volume is a real directory, and env under /data points into it
            assert Path(env["OPENCLAW_STATE_DIR"]).is_dir() and env["PORT"] != "8080"

        client.stop(app_name, machine.id, timeout=5)
        assert client.wait(app_name, machine.id, "stopped", 10).state == "stopped"
        client.start(app_name, machine.id)
        client.wait(app_name, machine.id, "started", 10)
        client.suspend(app_name, machine.id)
        client.wait(app_name, machine.id, "suspended", 10)
        client.start(app_name, machine.id)  # resume
        client.wait(app_name, machine.id, "started", 10)
        assert edge.get("/health", headers=route).status_code == 200

        updated = client.update_machine(app_name, machine.id, _config(instance, vol.id, GREETING="updated"))
        assert updated.instance_id != machine.instance_id
        assert client.wait(app_name, machine.id, "started", 10, version=updated.instance_id).version == updated.instance_id
        assert edge.get("/env", headers=route).json()["GREETING"] == "updated"
        client.restart(app_name, machine.id, signal="SIGTERM", timeout=2)
        client.wait(app_name, machine.id, "started", 10)
        events = {e.type for e in client.get_machine(app_name, machine.id).events}
        assert {"launch", "start", "stop", "suspend", "update", "restart"} <= events

        # leases: exclusive, refreshable, and they guard changes
        lease = client.acquire_lease(app_name, machine.id, ttl_s=30, description="provision")
        assert lease.nonce and (client.get_lease(app_name, machine.id) or lease).nonce == lease.nonce
        with pytest.raises(FlyConflict):
            client.acquire_lease(app_name, machine.id, ttl_s=30)
        with pytest.raises(FlyConflict):
            client.stop(app_name, machine.id)
        refreshed = client.acquire_lease(app_name, machine.id, ttl_s=60, nonce=lease.nonce)
        assert refreshed.nonce == lease.nonce and (refreshed.expires_at or 0) >= (lease.expires_at or 0)
        client.set_metadata(app_name, machine.id, "stage", "ready", lease_nonce=lease.nonce)
        client.release_lease(app_name, machine.id, lease.nonce)
        assert client.get_lease(app_name, machine.id) is None

        # metadata
        assert client.get_metadata_value(app_name, machine.id, "stage") == "ready"
        assert client.get_metadata(app_name, machine.id) == {INSTANCE_METADATA_KEY: instance, "stage": "ready"}
        with pytest.raises(FlyPreconditionFailed):
            client.update_metadata(app_name, machine.id, {"x": "1"}, machine_version=machine.instance_id)  # stale
        client.update_metadata(app_name, machine.id, {"x": "1"}, machine_version=updated.instance_id)
        client.update_metadata(app_name, machine.id, {INSTANCE_METADATA_KEY: instance, "y": "2"}, replace=True)
        client.delete_metadata(app_name, machine.id, "y")
        assert client.get_metadata_value(app_name, machine.id, "y") is None
        assert [m.id for m in client.list_machines(app_name, metadata={INSTANCE_METADATA_KEY: instance})] == [machine.id]
        assert [m.id for m in client.list_machines(app_name, state="started")] == [machine.id]
        assert machine.id in {m.id for m in client.list_org_machines()}

        # destroy, in the order the destroy job uses
        with pytest.raises(FlyPreconditionFailed):
            client.delete_machine(app_name, machine.id)  # running: needs a stop (or force) first
        client.stop(app_name, machine.id)
        client.wait(app_name, machine.id, "stopped", 10)
        client.delete_machine(app_name, machine.id)
        client.wait(app_name, machine.id, "destroyed", 10)
        client.create_snapshot(app_name, vol.id)
        assert len(client.list_snapshots(app_name, vol.id)) == 1
        client.delete_volume(app_name, vol.id)
        client.delete_app(app_name)
        with pytest.raises(FlyNotFound):
            client.get_app(app_name)

        counts = fly.counts()
        assert (counts["apps"], counts["volumes"], counts["machines_total"], counts["processes"]) == (0, 0, 0, 0), counts
        assert edge.get("/_emulator/state", headers={"host": "localhost"}).status_code == 404  # admin is not on the edge

    assert checker.violations == [], "\n".join(checker.violations)
    missing = LIFECYCLE_OPS - {(m, p) for m, p, _ in checker.seen}
    assert not missing, f"operations the lifecycle did not exercise: {sorted(missing)}"


# --- retries --------------------------------------------------------------------------------------


def test_rate_limit_is_retried_honouring_retry_after(fly: FlyEmulator, client: FlyClient, checker: SpecCheckingTransport) -> None:
    name = _name()
    client.create_app(name)
    fly.set_faults(rate_limit={"count": 2, "ops": ["get_app"], "retry_after": 0.1})
    started = time.monotonic()
    assert client.get_app(name).name == name
    assert time.monotonic() - started >= 0.2  # two Retry-After waits, although our own backoff is ~1 ms
    assert fly.faults.snapshot()["fired"]["rate_limit"] == 2
    assert [s for m, p, s in checker.history if p == f"/v1/apps/{name}"] == [429, 429, 200]
    client.delete_app(name)


def test_server_errors_are_retried(fly: FlyEmulator, client: FlyClient, checker: SpecCheckingTransport) -> None:
    name = _name()
    client.create_app(name)
    fly.set_faults(server_error={"count": 2, "ops": ["list_machines"], "status": 503})
    assert client.list_machines(name) == []
    assert [s for m, p, s in checker.history if p == f"/v1/apps/{name}/machines"] == [503, 503, 200]
    client.delete_app(name)


def test_retries_exhausted_raise_transient_error(fly: FlyEmulator, client: FlyClient, checker: SpecCheckingTransport) -> None:
    name = _name()
    client.create_app(name)
    fly.set_faults(server_error={"probability": 1.0, "ops": ["get_app"]})
    with pytest.raises(FlyTransientError) as err:
        client.get_app(name)
    assert err.value.status == 500 and not isinstance(err.value, FlyTimeout)
    assert _count(checker, "GET", "/apps/{app_name}") == 4  # 1 + retries=3
    fly.clear_faults()
    client.delete_app(name)


def test_connection_failures_are_transient() -> None:
    with FlyEmulator(mode="simulated") as gone:
        url = gone.url
    with FlyClient(url, TOKEN, "personal", retries=2, backoff_initial=0.001) as client:
        with pytest.raises(FlyTransientError) as err:
            client.list_apps()
    assert err.value.status is None


@pytest.mark.parametrize("perform", [True, False])
def test_ambiguous_timeout_on_create_app_makes_no_duplicate(
    fly: FlyEmulator, client: FlyClient, checker: SpecCheckingTransport, perform: bool
) -> None:
    name = _name()
    fly.set_faults(timeout={"count": 1, "ops": ["create_app"], "perform": perform})
    app = client.create_app(name, network="n1")
    assert app.name == name and [a.name for a in client.list_apps()].count(name) == 1
    assert _count(checker, "POST", "/apps") == (1 if perform else 2)  # found by name, or created on the retry
    assert _count(checker, "GET", "/apps/{app_name}") >= 1  # looked up before resending
    client.delete_app(name)


def test_ambiguous_timeout_on_create_volume_and_machine_makes_no_duplicate(
    fly: FlyEmulator, client: FlyClient, checker: SpecCheckingTransport
) -> None:
    name = _name()
    client.create_app(name)
    fly.set_faults(timeout={"count": 1, "ops": ["create_volume"], "perform": True})
    vol = client.create_volume(name, "data", "iad", 1)
    assert [v.id for v in client.list_volumes(name)] == [vol.id]

    fly.set_faults(timeout={"count": 1, "ops": ["create_machine"], "perform": True})
    machine = client.create_machine(name, "agent", "iad", _config("inst-a", vol.id))
    assert [m.id for m in client.list_machines(name)] == [machine.id]
    assert _count(checker, "POST", "/apps/{app_name}/machines") == 1

    # Without a name the instance metadata identifies it.
    fly.set_faults(timeout={"count": 1, "ops": ["create_machine"], "perform": True})
    unnamed = client.create_machine(name, None, "iad", _config("inst-b"))
    assert unnamed.metadata[INSTANCE_METADATA_KEY] == "inst-b" and len(client.list_machines(name)) == 2
    assert fly.faults.snapshot()["fired"]["timeout"] == 3
    client.delete_app(name)


def test_server_error_on_create_machine_is_resolved_by_lookup(fly: FlyEmulator, client: FlyClient) -> None:
    name = _name()
    client.create_app(name)
    fly.set_faults(server_error={"count": 1, "ops": ["create_machine"]})
    client.create_machine(name, "agent", "iad", _config("inst-c"))
    assert len(client.list_machines(name)) == 1
    client.delete_app(name)


def test_capacity_error_is_raised_at_once(fly: FlyEmulator, client: FlyClient, checker: SpecCheckingTransport) -> None:
    name = _name()
    client.create_app(name)
    fly.set_faults(capacity={"probability": 1.0, "regions": ["iad"]})
    with pytest.raises(FlyCapacityError) as err:
        client.create_machine(name, "agent", "iad", _config("inst-d"))
    assert err.value.region == "iad" and err.value.fly_status == "insufficient_capacity"
    assert _count(checker, "POST", "/apps/{app_name}/machines") == 1  # no retry
    fallback = client.create_machine(name, "agent", "ord", _config("inst-d"))  # another region works
    assert fallback.region == "ord"
    client.delete_app(name)


def test_wait_timeout_is_not_retried(fly: FlyEmulator, client: FlyClient, checker: SpecCheckingTransport) -> None:
    name = _name()
    client.create_app(name)
    fly.set_faults(slow_start={"delay_s": 1.2, "probability": 1.0})
    machine = client.create_machine(name, "agent", "iad", _config("inst-e"))
    with pytest.raises(FlyTimeout) as err:
        client.wait(name, machine.id, "started", timeout_s=0.2)  # clamped up to 1 s
    assert err.value.status == 408
    waits = [p for m, p, s in checker.history if "/wait" in p]
    assert len(waits) == 1 and "timeout=1" in waits[0]
    assert client.wait(name, machine.id, "started", timeout_s=5).state == "started"
    fly.clear_faults()
    client.delete_app(name)


def test_wait_timeout_is_clamped_to_60s(fly: FlyEmulator, client: FlyClient, checker: SpecCheckingTransport) -> None:
    name = _name()
    client.create_app(name)
    machine = client.create_machine(name, "agent", "iad", _config("inst-f"))
    client.wait(name, machine.id, "started", timeout_s=3600)
    assert any("timeout=60" in p for m, p, s in checker.history if "/wait" in p)
    client.delete_app(name)


# --- errors ---------------------------------------------------------------------------------------


def test_error_mapping(fly: FlyEmulator, client: FlyClient, checker: SpecCheckingTransport) -> None:
    name = _name()
    with pytest.raises(FlyNotFound):
        client.get_machine(name, "0123456789abcd")
    client.create_app(name)
    with pytest.raises(FlyAPIError) as taken:
        client.create_app(name)
    assert taken.value.status == 422 and _count(checker, "POST", "/apps") == 2  # not retried
    assert client.create_app(name, exist_ok=True).name == name  # idempotent provisioning
    client.create_machine(name, "agent", "iad", _config("inst-g"))
    with pytest.raises(FlyConflict):
        client.create_machine(name, "agent", "iad", _config("inst-g"))  # names are unique per app
    assert client.delete_volume(name, "vol_missing", missing_ok=True) is None
    client.delete_app(name)
    client.delete_app(name, missing_ok=True)


def test_wrong_token_is_unauthorized_and_never_logged(
    fly: FlyEmulator, checker: SpecCheckingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "wrong-token-9f8e7d6c5b4a"  # noqa: S105 - a deliberately wrong token
    caplog.set_level(logging.DEBUG)
    with FlyClient(fly.url, secret, "personal", transport=checker, retries=1, backoff_initial=0.001) as client:
        with pytest.raises(FlyUnauthorized) as err:
            client.list_apps()
        fly.set_faults(server_error={"count": 5, "ops": ["list_apps"]})
        with pytest.raises(FlyTransientError):
            FlyClient(fly.url, TOKEN, "personal", transport=checker, retries=1, backoff_initial=0.001).list_apps()
        assert secret not in repr(client) and secret not in str(err.value)
    assert _count(checker, "GET", "/apps") == 3  # 401 once (no retry), then 500 twice
    assert secret not in caplog.text and TOKEN not in caplog.text
    assert "retrying" in caplog.text  # the retry was logged, without the token


def test_create_found_after_the_last_ambiguous_attempt(fly: FlyEmulator, checker: SpecCheckingTransport) -> None:
    name = _name()
    with fly.client(transport=checker, retries=0) as client:  # one attempt only, and it is ambiguous
        client.create_app(name)
        fly.set_faults(timeout={"count": 1, "ops": ["create_volume"], "perform": True})
        vol = client.create_volume(name, "data", "iad", 1)
        assert [v.id for v in client.list_volumes(name)] == [vol.id]
        fly.set_faults(timeout={"count": 1, "ops": ["create_volume"], "perform": False})
        with pytest.raises(FlyTimeout):
            client.create_volume(name, "other", "iad", 1)  # not done, and no attempts left
        client.delete_app(name)


def test_create_with_lease_ttl_returns_the_nonce(fly: FlyEmulator, client: FlyClient) -> None:
    name = _name()
    client.create_app(name)
    machine = client.create_machine(name, "agent", "iad", _config("inst-h"), lease_ttl=30)
    assert machine.nonce and (client.get_lease(name, machine.id) or machine).nonce == machine.nonce
    client.wait(name, machine.id, "started", 10)
    with pytest.raises(FlyConflict):
        client.stop(name, machine.id)
    client.stop(name, machine.id, lease_nonce=machine.nonce)
    client.wait(name, machine.id, "stopped", 10)
    client.delete_machine(name, machine.id, lease_nonce=machine.nonce)
    client.delete_app(name)
