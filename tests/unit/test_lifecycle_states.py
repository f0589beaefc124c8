"""The lifecycle's pure parts: the state machine's allowed-from sets, resource names, regions."""

from __future__ import annotations

import uuid

import pytest

from shared.lifecycle.config import LifecycleConfig
from shared.lifecycle.names import app_name, instance_of_app, network_name
from shared.lifecycle.states import ACTION_TRANSITIONS, ACTIONS, FLY_TO_STATUS, STATUSES

# The rules the allowed-from sets follow, checked on the sets themselves rather than on a copy of them.
GONE = {"destroying", "destroyed"}


def test_every_action_is_declared_over_the_fixed_statuses():
    assert set(ACTION_TRANSITIONS) == set(ACTIONS)
    for t in ACTION_TRANSITIONS.values():
        assert t.allowed <= set(STATUSES) and t.to in STATUSES


@pytest.mark.parametrize("status", STATUSES)
def test_a_live_instance_can_always_be_destroyed_and_a_gone_one_never_acted_on(status):
    permitted = {a for a, t in ACTION_TRANSITIONS.items() if t.permits(status)}
    if status in GONE:
        assert permitted == set()  # asking to destroy again is answered before the sets (request_action)
    else:
        assert "destroy" in permitted


def test_provisioning_belongs_to_the_saga_and_error_can_be_recovered_from():
    assert {a for a, t in ACTION_TRANSITIONS.items() if t.permits("provisioning")} == {"destroy"}
    assert {"start", "stop", "restart"} <= {a for a, t in ACTION_TRANSITIONS.items() if t.permits("error")}


@pytest.mark.parametrize("action", ACTIONS)
def test_an_action_is_not_offered_from_where_it_leads_except_restart(action):
    t = ACTION_TRANSITIONS[action]
    assert t.permits(t.to) is (action == "restart")
    if action == "suspend":
        assert t.allowed == {"running"}  # only a running machine has memory to snapshot


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
