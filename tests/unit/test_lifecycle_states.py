"""The lifecycle's pure parts: the state machine's allowed-from sets, resource names, regions."""

from __future__ import annotations

import uuid

import pytest

from shared.lifecycle.config import LifecycleConfig
from shared.lifecycle.names import app_name, instance_of_app, network_name
from shared.lifecycle.states import ACTION_TRANSITIONS, FLY_TO_STATUS, STATUSES

EXPECTED = {  # action → statuses it is allowed from (ARCHITECTURE §4)
    "start": {"stopped", "suspended", "error"},
    "stop": {"running", "suspended", "error"},
    "suspend": {"running"},
    "restart": {"running", "error"},
    "destroy": {"provisioning", "running", "suspended", "stopped", "error"},
}


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_allowed_from(action, status):
    assert ACTION_TRANSITIONS[action].permits(status) is (status in EXPECTED[action])  # type: ignore[index]


def test_nothing_leaves_destroyed_and_fly_states_map_to_statuses():
    assert not any(t.permits("destroyed") for t in ACTION_TRANSITIONS.values())
    assert set(FLY_TO_STATUS.values()) <= set(STATUSES)


def test_names_round_trip():
    iid = str(uuid.uuid4())
    assert instance_of_app(app_name(iid)) == iid and len(app_name(iid)) <= 63
    assert network_name(iid) != app_name(iid)
    assert instance_of_app("openagents-sse-gateway") is None and instance_of_app("oa-nope") is None
    with pytest.raises(ValueError):
        app_name("not-a-uuid")


def test_regions_and_proxy_url():
    cfg = LifecycleConfig(region="iad", fallback_regions=("ord", "iad", "sjc"), proxy_base="https://{app}.fly.dev",
                          image="i", volume_gb=1, runtime="offline", start_timeout_s=1, ready_timeout_s=1,
                          retry_base_s=1, health_concurrency=1, probe_timeout_s=1, signing_public_keys=None)
    assert cfg.regions == ["iad", "ord", "sjc"]
    assert cfg.proxy_url("oa-x") == "https://oa-x.fly.dev"
