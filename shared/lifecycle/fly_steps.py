"""The Fly steps that make an agent's machine: app (its own network) → volume → machine, with region
fallback on capacity errors. The provision saga runs them for an instance, the warm pool for a unit
no one has hired yet; they differ only in names, metadata and where the ids are recorded, which is
what `Build` and `Ledger` say.

Each step records the id it made before the next begins (`Ledger`), and looks for what an
interrupted earlier attempt may have made before creating anything: the machine by its name or its
`openagents_instance` metadata, the volume by its name. So a retry — or a fresh worker after a
crash — resumes where the last one stopped and never makes a second volume or machine; extras found
on the way are deleted. A capacity error moves the volume and the machine to the next region
(FLY_FALLBACK_REGIONS); `NoCapacity` when no region has room.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from shared import logs
from shared.fly import FlyClient, Volume
from shared.fly.config import INSTANCE_METADATA_KEY
from shared.fly.errors import FlyCapacityError
from shared.fly.models import MachineConfig
from shared.lifecycle import machines, names
from shared.lifecycle.config import LifecycleConfig
from shared.lifecycle.errors import NoCapacity

log = logging.getLogger("openagents.lifecycle")


class Ledger(Protocol):
    """Where the steps write down what they made, the moment it exists."""

    def app(self, fly_app: str) -> None: ...

    def volume(self, volume_id: str, region: str) -> None: ...

    def machine(self, machine_id: str, region: str | None) -> None: ...

    def stage(self, stage: str) -> None:
        """The steps reached `stage` (`machine`: about to create the machine)."""
        ...


@dataclass(frozen=True, slots=True)
class Build:
    """What the steps make, and what an earlier attempt recorded of it."""

    app: str
    network: str
    owner: str  # `openagents_instance` metadata and the machine's OPENAGENTS_INSTANCE_ID
    memory_mb: int
    log_fields: Mapping[str, str]
    metadata: Mapping[str, str] = field(default_factory=dict)  # more machine metadata
    app_made: bool = False  # the app is recorded as made: don't ask Fly to create it again
    machine_id: str | None = None
    volume_id: str | None = None


class FlySteps:
    def __init__(self, fly: FlyClient, cfg: LifecycleConfig, build: Build, ledger: Ledger) -> None:
        self.fly = fly
        self.cfg = cfg
        self.build = build
        self.ledger = ledger

    def ensure_app(self) -> None:
        if self.build.app_made:
            return
        self.fly.create_app(self.build.app, network=self.build.network, exist_ok=True)
        self.ledger.app(self.build.app)

    def ensure_machine(self, token: str) -> str:
        """The machine's id: the one an earlier attempt made, else a new one (with its volume)."""
        adopted = self._adopt_machine()
        if adopted is not None:
            return adopted
        app = self.build.app
        volume = self._existing_volume()
        regions = self.cfg.regions
        if volume is not None and volume.region in regions:  # resume where the volume already is
            regions.remove(volume.region)
            regions.insert(0, volume.region)
        refused: list[str] = []
        for region in regions:
            try:
                if volume is not None and volume.region != region:
                    self.fly.delete_volume(app, volume.id, missing_ok=True)
                    volume = None
                if volume is None:
                    volume = self.fly.create_volume(app, names.VOLUME_NAME, region, self.cfg.volume_gb)
                if volume.id != self.build.volume_id:
                    self.ledger.volume(volume.id, region)
                self.ledger.stage("machine")
                machine = self.fly.create_machine(app, names.MACHINE_NAME, region, self._config(token, volume.id))
            except FlyCapacityError:
                refused.append(region)
                logs.log(log, logging.WARNING, "no capacity, trying the next region", region=region,
                         **self.build.log_fields)
                continue
            self.ledger.machine(machine.id, region)
            return machine.id
        if volume is not None:
            self.fly.delete_volume(app, volume.id, missing_ok=True)
        raise NoCapacity(refused)

    def _config(self, token: str, volume_id: str) -> MachineConfig:
        return machines.machine_config(self.cfg, self.build.owner, token, volume_id, self.build.memory_mb,
                                       metadata=dict(self.build.metadata) or None)

    def _adopt_machine(self) -> str | None:
        """A machine an earlier attempt made: the recorded one, else one carrying our metadata."""
        app, owner = self.build.app, self.build.owner
        found = [m for m in self.fly.list_machines(app)
                 if m.metadata.get(INSTANCE_METADATA_KEY) == owner or m.name == names.MACHINE_NAME]
        keep = next((m for m in found if m.id == self.build.machine_id), found[0] if found else None)
        for extra in found:
            if keep is not None and extra.id != keep.id:  # never leave a duplicate behind
                self.fly.delete_machine(app, extra.id, force=True, missing_ok=True)
        if keep is None:
            return None
        if keep.id != self.build.machine_id:
            self.ledger.machine(keep.id, keep.region)
        if keep.metadata.get(INSTANCE_METADATA_KEY) != owner:  # e.g. a claimed pool unit's machine:
            self.fly.set_metadata(app, keep.id, INSTANCE_METADATA_KEY, owner)  # now it is ours
        return keep.id

    def _existing_volume(self) -> Volume | None:
        app = self.build.app
        vols = [v for v in self.fly.list_volumes(app)
                if v.name == names.VOLUME_NAME and (v.state or "") not in ("destroyed", "destroying")]
        keep = next((v for v in vols if v.id == self.build.volume_id), vols[0] if vols else None)
        for extra in vols:
            if keep is not None and extra.id != keep.id and not extra.attached_machine_id:
                self.fly.delete_volume(app, extra.id, missing_ok=True)
        return keep
