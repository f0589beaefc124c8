"""Fly.io Machines: a typed client (`FlyClient`), the agent machine config, and the error tree.

    from shared.fly import FlyClient, build_agent_machine_config, FlyCapacityError

The local emulator that speaks the same API lives in `devstack.emulators.fly`.
"""

from shared.fly.client import FlyClient
from shared.fly.config import INSTANCE_METADATA_KEY, build_agent_machine_config
from shared.fly.errors import (
    FlyAPIError,
    FlyCapacityError,
    FlyConflict,
    FlyError,
    FlyNotFound,
    FlyPreconditionFailed,
    FlyTimeout,
    FlyTransientError,
    FlyUnauthorized,
)
from shared.fly.models import (
    App,
    ErrorResponse,
    Lease,
    Machine,
    MachineCheck,
    MachineConfig,
    MachineGuest,
    MachineInit,
    MachineMount,
    MachinePort,
    MachineRestart,
    MachineService,
    OrgMachine,
    Snapshot,
    StopConfig,
    Volume,
    WaitResult,
)

__all__ = [
    "INSTANCE_METADATA_KEY",
    "App",
    "ErrorResponse",
    "FlyAPIError",
    "FlyCapacityError",
    "FlyClient",
    "FlyConflict",
    "FlyError",
    "FlyNotFound",
    "FlyPreconditionFailed",
    "FlyTimeout",
    "FlyTransientError",
    "FlyUnauthorized",
    "Lease",
    "Machine",
    "MachineCheck",
    "MachineConfig",
    "MachineGuest",
    "MachineInit",
    "MachineMount",
    "MachinePort",
    "MachineRestart",
    "MachineService",
    "OrgMachine",
    "Snapshot",
    "StopConfig",
    "Volume",
    "WaitResult",
    "build_agent_machine_config",
]
