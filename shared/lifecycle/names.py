"""Names of an instance's Fly resources, derived from the instance id.

Deterministic names are what make the saga idempotent and cleanup complete: a retry (or a cleanup
after a crash that lost the recorded ids) finds the app by name, and reconcile maps any app back to
its instance without a lookup table.

Warm-pool units (`warm_pool.py`) are made before any instance exists, so their names derive from the
unit's id instead (`oa-pool-<unit id>`); a hire that claims one keeps those names (nothing is renamed
on Fly) and records them on the instance, and reconcile maps a pool app to its instance through the
`warm_pool` row (`instance_id`) — the machine's `openagents_instance` metadata says the same.
"""

from __future__ import annotations

import re
import uuid

APP_PREFIX = "oa-"
VOLUME_NAME = "data"  # one volume per app: Fly volume names are [a-z0-9_]{1,30} and need not be unique
MACHINE_NAME = "agent"  # unique within the app, so an ambiguous create is resolved by name
POOL_PREFIX = "oa-pool-"
POOL_METADATA_KEY = "openagents_pool"  # the unit id, on a pool machine (kept after the claim)
_UUID = r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
_APP = re.compile(rf"^oa-{_UUID}$")
_POOL_APP = re.compile(rf"^oa-pool-{_UUID}$")


def app_name(instance_id: str) -> str:
    """`oa-<uuid>` (39 characters; Fly allows 63)."""
    return f"{APP_PREFIX}{uuid.UUID(str(instance_id))}"


def network_name(instance_id: str) -> str:
    """Each app gets its own 6PN network, so tenants cannot reach each other's machines."""
    return f"{APP_PREFIX}net-{uuid.UUID(str(instance_id))}"


def instance_of_app(name: str) -> str | None:
    """The instance id an app name belongs to, or None for apps that are not ours."""
    m = _APP.match(name)
    return m.group(1) if m else None


def pool_app_name(unit_id: str) -> str:
    """`oa-pool-<uuid>` (44 characters)."""
    return f"{POOL_PREFIX}{uuid.UUID(str(unit_id))}"


def pool_network_name(unit_id: str) -> str:
    return f"{POOL_PREFIX}net-{uuid.UUID(str(unit_id))}"


def unit_of_app(name: str) -> str | None:
    """The warm-pool unit id an app name belongs to, or None."""
    m = _POOL_APP.match(name)
    return m.group(1) if m else None
