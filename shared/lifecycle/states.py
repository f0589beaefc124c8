"""The instance state machine (ARCHITECTURE §4; the state names are *fixed*).

Every status change is one guarded SQL update (`instance_transition`) from the `allowed` set of a
`Transition` below, so an update that lost a race changes nothing instead of clobbering. User actions
are checked against the same sets when they are asked for (an illegal one is a 409) and again when
their job runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["provisioning", "running", "suspended", "stopped", "error", "destroying", "destroyed"]
Stage = Literal["queued", "app", "volume", "machine", "starting", "ready"]
Action = Literal["start", "stop", "suspend", "restart", "destroy"]

STATUSES: tuple[Status, ...] = ("provisioning", "running", "suspended", "stopped", "error", "destroying", "destroyed")
STAGES: tuple[Stage, ...] = ("queued", "app", "volume", "machine", "starting", "ready")
ACTIONS: tuple[Action, ...] = ("start", "stop", "suspend", "restart", "destroy")


@dataclass(frozen=True, slots=True)
class Transition:
    """A named move of the state machine: the statuses it starts from and the one it ends in."""

    name: str
    allowed: frozenset[str]
    to: Status

    def permits(self, status: str) -> bool:
        return status in self.allowed


def _t(name: str, allowed: set[str], to: Status) -> Transition:
    return Transition(name, frozenset(allowed), to)


# User actions (API → job). `start` from error re-provisions when the machine is gone.
START = _t("start", {"stopped", "suspended", "error"}, "running")
STOP = _t("stop", {"running", "suspended", "error"}, "stopped")
SUSPEND = _t("suspend", {"running"}, "suspended")
RESTART = _t("restart", {"running", "error"}, "running")
DESTROY = _t("destroy", {"provisioning", "running", "suspended", "stopped", "error"}, "destroying")

# Done by the platform.
PROVISIONED = _t("provisioned", {"provisioning"}, "running")
PROVISION_FAILED = _t("provision_failed", {"provisioning"}, "error")
REPROVISION = _t("reprovision", {"error", "stopped", "suspended"}, "provisioning")
WAKE = _t("wake", {"suspended", "stopped", "running"}, "running")
IDLE_STOP = _t("idle_stop", {"running", "suspended"}, "stopped")
HEALTH_ERROR = _t("health_error", {"running"}, "error")
MISSING = _t("missing", {"running", "suspended", "stopped"}, "error")
DESTROYED = _t("destroyed", {"destroying"}, "destroyed")
UPDATED = _t("updated", {"running", "suspended", "stopped"}, "running")

ACTION_TRANSITIONS: dict[Action, Transition] = {
    "start": START, "stop": STOP, "suspend": SUSPEND, "restart": RESTART, "destroy": DESTROY,
}

# Fly's persistent machine states and the status they mean (transient ones are not synced).
FLY_TO_STATUS: dict[str, Status] = {"started": "running", "suspended": "suspended", "stopped": "stopped"}
# Statuses the health check keeps in line with Fly.
SYNCED: frozenset[str] = frozenset(FLY_TO_STATUS.values())
