"""The Fly OpenAPI file, the checker built on it, and the agent machine config against it.

The checker (`devstack.emulators.fly.spec_check`) tolerates four known gaps of the spec file
(T1–T4 below). Each tolerance has a test here that fails once the spec stops having that gap, so the
tolerance can be removed instead of silently hiding a real mismatch:
- T1 duplicate operationIds → the document is not validated as OpenAPI, only used;
- T2 `content: {}` responses (start/stop/…/lease release/snapshot create) → any body accepted;
- T3 `POST /apps` 201 documents no body and no `wait` query parameter, while Fly (fly-go calls
  `POST /apps?wait=true`) answers the App → validated as App, `wait` allowed;
- T4 per-operation error codes are mostly missing (404, 408, 409, 412, 422, 429, 5xx) → any
  undocumented 4xx/5xx must be an `ErrorResponse`.
Not deviations, noted for readers: the spec's `ErrorResponse.status` enum lacks fly-go's `name_taken`
(the emulator sends no status for a taken name, the client also matches the message); the spec puts
lease `ttl` in the body where fly-go uses a query parameter (we follow the spec); Fly may *return*
booleans for `autostop` (the models accept both, the emulator returns the spec's strings).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import httpx
import pytest

from devstack.emulators.fly.spec_check import FlySpec, find_spec, load_spec
from shared.fly import build_agent_machine_config
from shared.fly.config import INSTANCE_METADATA_KEY

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = find_spec()
BASE = "https://api.machines.dev/v1"
AUTH = {"Authorization": "Bearer t"}


@pytest.fixture(scope="module")
def spec() -> FlySpec:
    return load_spec(SPEC_PATH)


def _post(path: str, body: object, **params: str) -> httpx.Request:
    return httpx.Request("POST", BASE + path, params=params or None, json=body, headers=AUTH)


def _response(request: httpx.Request, status: int, body: object | None) -> httpx.Response:
    content = json.dumps(body).encode() if body is not None else b""
    headers = {"content-type": "application/json"} if body is not None else {}
    return httpx.Response(status, content=content, headers=headers, request=request)


# --- the tolerated gaps still exist -------------------------------------------------------------


def test_t1_spec_has_duplicate_operation_ids(spec: FlySpec) -> None:
    ids = Counter(
        op["operationId"] for item in spec.raw["paths"].values() for op in item.values() if isinstance(op, dict) and "operationId" in op
    )
    assert [i for i, n in ids.items() if n > 1], "no duplicate operationIds any more: drop tolerance T1"


def test_t2_action_responses_have_empty_content(spec: FlySpec) -> None:
    start = spec.raw["paths"]["/apps/{app_name}/machines/{machine_id}/start"]["post"]["responses"]["200"]
    assert start.get("content") == {}, "start now documents its body: drop tolerance T2 for it"


def test_t3_create_app_documents_no_body_and_no_wait(spec: FlySpec) -> None:
    op = spec.raw["paths"]["/apps"]["post"]
    assert op["responses"]["201"].get("content") == {}, "POST /apps 201 now has a body: use it instead of T3"
    assert "wait" not in {p["name"] for p in op.get("parameters", [])}, "`wait` is now declared: drop T3"


def test_t4_error_statuses_are_not_listed_per_operation(spec: FlySpec) -> None:
    get_machine = spec.raw["paths"]["/apps/{app_name}/machines/{machine_id}"]["get"]["responses"]
    wait = spec.raw["paths"]["/apps/{app_name}/machines/{machine_id}/wait"]["get"]["responses"]
    assert "404" not in get_machine and "408" not in wait, "error codes are now documented: narrow T4"


def test_spec_is_the_expected_snapshot(spec: FlySpec) -> None:
    assert spec.raw["openapi"].startswith("3.0")
    assert spec.raw["servers"][0]["url"] == BASE
    error_status = spec.raw["components"]["schemas"]["main.statusCode"]["enum"]
    assert "insufficient_capacity" in error_status


# --- the checker is not vacuous -----------------------------------------------------------------


def test_checker_accepts_a_valid_create_app(spec: FlySpec) -> None:
    request = _post("/apps", {"name": "a", "org_slug": "personal", "network": "n"}, wait="true")
    assert spec.check_request(request) == []
    app = {"id": "x", "name": "a", "organization": {"slug": "personal", "name": "P"}, "status": "pending"}
    assert spec.check_response(request, _response(request, 201, app)) == []


def test_checker_flags_a_misspelled_field(spec: FlySpec) -> None:
    problems = spec.check_request(_post("/apps", {"app_name": "a", "org_slug": "personal"}))
    assert problems and "app_name" in " ".join(problems)


def test_checker_flags_wrong_types_and_unknown_query_params(spec: FlySpec) -> None:
    bad_body = _post("/apps/a/machines", {"config": {"image": "i", "guest": {"cpus": "one"}}})
    assert spec.check_request(bad_body)
    bad_query = httpx.Request("GET", BASE + "/apps/a/machines", params={"statee": "started"}, headers=AUTH)
    assert any("statee" in p for p in spec.check_request(bad_query))
    no_token = httpx.Request("GET", BASE + "/apps/a")
    assert any("token" in p for p in spec.check_request(no_token))


def test_checker_flags_bad_responses(spec: FlySpec) -> None:
    wait = httpx.Request("GET", BASE + "/apps/a/machines/m/wait", params={"state": "started"}, headers=AUTH)
    assert spec.check_response(wait, _response(wait, 200, {"ok": True, "state": 5}))
    assert spec.check_response(wait, _response(wait, 408, {"error": "timeout"})) == []
    assert spec.check_response(wait, _response(wait, 408, {"error": {"nested": 1}}))  # not an ErrorResponse
    assert spec.check_response(wait, _response(wait, 408, {"error": "x", "status": "name_taken"}))


def test_checker_flags_unknown_paths(spec: FlySpec) -> None:
    assert spec.check_request(httpx.Request("GET", BASE + "/apps/a/machinez", headers=AUTH))


def test_lease_release_requires_the_nonce_header(spec: FlySpec) -> None:
    release = httpx.Request("DELETE", BASE + "/apps/a/machines/m/lease", headers=AUTH)
    assert any("fly-machine-lease-nonce" in p for p in spec.check_request(release))


# --- the agent machine config (ARCHITECTURE §4) -------------------------------------------------


def test_agent_machine_config_is_valid_and_as_designed(spec: FlySpec) -> None:
    config = build_agent_machine_config(
        "registry.fly.io/openagents-agent:2026.9.6",
        {"OPENCLAW_STATE_DIR": "/data", "OPENCLAW_GATEWAY_TOKEN": "secret"},
        "vol_123",
        metadata={INSTANCE_METADATA_KEY: "inst-1", "openagents_user": "u-1"},
    )
    body = config.to_api()
    assert spec.check_request(_post("/apps/a/machines", {"name": "agent", "region": "iad", "config": body})) == []

    assert body["guest"] == {"cpu_kind": "shared", "cpus": 1, "memory_mb": 2048}
    assert body["mounts"] == [{"volume": "vol_123", "path": "/data"}]
    (service,) = body["services"]
    assert service["internal_port"] == 8080 and service["protocol"] == "tcp"
    assert service["autostop"] == "suspend" and service["autostart"] is True and service["min_machines_running"] == 0
    assert {p["port"]: p for p in service["ports"]} == {
        443: {"port": 443, "handlers": ["tls", "http"]},
        80: {"port": 80, "handlers": ["http"], "force_https": True},
    }
    (check,) = body["checks"].values()
    assert check["type"] == "http" and check["path"] == "/health" and check["port"] == 8080
    assert (check["interval"], check["timeout"], check["grace_period"]) == ("15s", "2s", "30s")
    assert body["restart"]["policy"] == "on-failure"
    assert body["metadata"][INSTANCE_METADATA_KEY] == "inst-1"
    assert "swap_size_mb" not in (body.get("init") or {}) and "schedule" not in body
    assert body["env"]["PORT"] == "8080" and body["env"]["OPENCLAW_STATE_DIR"] == "/data"


def test_agent_machine_config_rules() -> None:
    with pytest.raises(ValueError, match=INSTANCE_METADATA_KEY):
        build_agent_machine_config("img", {}, "vol_1", metadata={})
    big = build_agent_machine_config("img", {}, "vol_1", memory_mb=4096, metadata={INSTANCE_METADATA_KEY: "i"})
    assert big.services and big.services[0].autostop == "stop"  # above 2 GB Fly cannot suspend
    custom = build_agent_machine_config("img", {"PORT": "9000"}, "vol_1", bridge_port=9000, metadata={INSTANCE_METADATA_KEY: "i"})
    assert custom.services and custom.services[0].internal_port == 9000 and (custom.env or {})["PORT"] == "9000"
