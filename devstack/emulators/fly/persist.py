"""The emulator's world on disk, so a restarted dev stack finds yesterday's apps, machines and volumes.

`FlyEmulator(state_dir=...)` keeps `<state_dir>/state.json`: apps, volumes (their contents are the
directories under the data dir, which are never touched here) and machines (config, state, events,
lease, restart count) plus, for each process-mode machine, the pid and kernel start time of its
process group. It is written atomically (temp file, fsync, rename):
- at once after every API call that may have changed something, before the answer leaves (a Fly
  answer means it is recorded);
- at most `DEBOUNCE_S` after a change made in the background (transitions, crashes, autostop);
- once more at shutdown, after the processes are gone.

Loading brings the world back as a rebooted host's would:
- `started`, `starting`, `restarting`, `updating` → the machine boots again (`boot_ids`; its workload
  is relaunched, event `start` from `flyd`);
- `suspended`, `suspending`, `stopping` → `stopped` (a reboot loses the memory snapshot);
- `destroying` → `destroyed` (volumes released);
- `created`, `stopped`, `failed`, `destroyed` as they were.
Recorded processes still running (the previous emulator was killed before it could stop them) are
killed first, if they are still the processes recorded.

`<state_dir>/.lock` (an exclusive `flock`) keeps two emulators off one folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

from devstack import guardian as procs
from devstack.emulators.fly.state import App, EmulatorState, Lease, Machine, Volume

log = logging.getLogger("devstack.emulators.fly")

FORMAT = 1
DEBOUNCE_S = 0.1
_BOOT = frozenset({"started", "starting", "restarting", "updating"})
_COME_BACK_STOPPED = frozenset({"suspended", "suspending", "stopping"})


class StateDirBusy(RuntimeError):
    """Another emulator holds this state folder."""


def _volume_json(v: Volume) -> dict[str, Any]:
    return {
        "id": v.id, "name": v.name, "region": v.region, "size_gb": v.size_gb, "encrypted": v.encrypted,
        "fstype": v.fstype, "snapshot_retention": v.snapshot_retention, "auto_backup_enabled": v.auto_backup_enabled,
        "created_at": v.created_at, "zone": v.zone, "state": v.state, "attached_machine_id": v.attached_machine_id,
        "snapshots": v.snapshots,
    }


def _lease_json(lease: Lease | None) -> dict[str, Any] | None:
    if lease is None or not lease.active():
        return None
    return {"nonce": lease.nonce, "owner": lease.owner, "description": lease.description, "version": lease.version,
            "expires_at": lease.expires_at}


def _machine_json(m: Machine, process: dict[str, int] | None) -> dict[str, Any]:
    return {
        "id": m.id, "name": m.name, "region": m.region, "config": m.config, "instance_id": m.instance_id,
        "private_ip": m.private_ip, "state": m.state, "created_at": m.created_at, "updated_at": m.updated_at,
        "events": list(m.events), "lease": _lease_json(m.lease), "create_nonce": m.create_nonce, "restarts": m.restarts,
        "process": process,
    }


def snapshot(state: EmulatorState) -> dict[str, Any]:
    apps = []
    for app in state.apps.values():
        apps.append({
            "id": app.id, "name": app.name, "org_slug": app.org_slug, "network": app.network, "number": app.number,
            "created_at": app.created_at,
            "volumes": [_volume_json(v) for v in app.volumes.values()],
            "machines": [_machine_json(m, state.runner.process_record(m)) for m in app.machines.values()],
        })
    return {"format": FORMAT, "saved_at": time.time(), "apps": apps}


def _restore_machine(app: App, data: dict[str, Any]) -> tuple[Machine, bool]:
    """The machine as the rebooted host has it, and whether it boots."""
    state = str(data["state"])
    boots = state in _BOOT
    if boots or state in _COME_BACK_STOPPED:
        state = "stopped"
    elif state == "destroying":
        state = "destroyed"
    lease = data.get("lease")
    m = Machine(
        id=data["id"], app=app, name=data["name"], region=data["region"], config=data["config"],
        instance_id=data["instance_id"], private_ip=data["private_ip"], state=state, created_at=data["created_at"],
        updated_at=data["updated_at"], events=deque(data.get("events") or [], maxlen=50),
        lease=Lease(**lease) if lease else None, create_nonce=data.get("create_nonce"), restarts=int(data.get("restarts") or 0),
    )
    return m, boots


def restore(data: dict[str, Any]) -> tuple[list[App], list[str], list[dict[str, int]]]:
    """Apps (with volumes and machines), the ids of machines to boot, the processes recorded."""
    apps: list[App] = []
    boot: list[str] = []
    processes: list[dict[str, int]] = []
    for a in data.get("apps") or []:
        app = App(id=a["id"], name=a["name"], org_slug=a["org_slug"], network=a["network"], number=int(a["number"]),
                  created_at=a["created_at"])
        for v in a.get("volumes") or []:
            app.volumes[v["id"]] = Volume(app=app, **v)
        for md in a.get("machines") or []:
            m, boots = _restore_machine(app, md)
            app.machines[m.id] = m
            if boots:
                boot.append(m.id)
            if md.get("process"):
                processes.append(md["process"])
        for v in app.volumes.values():  # a destroy the host did not finish still released its volume
            owner = app.machines.get(v.attached_machine_id or "")
            if owner is not None and owner.state == "destroyed":
                v.attached_machine_id = None
        apps.append(app)
    return apps, boot, processes


def kill_recorded(processes: list[dict[str, int]], timeout_s: float = 5.0) -> int:
    """Kill the recorded process groups that are still the ones recorded; how many there were."""
    killed = [p["pgid"] for p in processes if procs.kill_group(int(p["pgid"]), p.get("started"))]
    deadline = time.monotonic() + timeout_s
    while any(procs.group_alive(g) for g in killed) and time.monotonic() < deadline:
        time.sleep(0.02)
    return len(killed)


class StateStore:
    """`state.json` for one `EmulatorState`; install with `load()`, then `state.on_change = store.changed`."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.path = state_dir / "state.json"
        self._state: EmulatorState | None = None
        self._lock_file: IO[bytes] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def lock(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        f = open(self.dir / ".lock", "wb")  # noqa: SIM115 - held for the emulator's lifetime
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise StateDirBusy(f"another Fly emulator is using {self.dir}") from None
        self._lock_file = f

    def unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def load(self, state: EmulatorState) -> list[str]:
        """Reads the file into `state` (empty if there is none); returns the machines to boot."""
        self._state = state
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text())
            if data.get("format") != FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r}")
            apps, boot, processes = restore(data)
        except (OSError, ValueError, KeyError, TypeError) as e:
            aside = self.path.with_name(f"state.json.unreadable-{int(time.time())}")
            with contextlib.suppress(OSError):
                self.path.rename(aside)
            log.error("fly emulator: could not read its state; starting empty", extra={"fields": {"error": repr(e), "kept": str(aside)}})
            return []
        stale = kill_recorded(processes)
        state.adopt(apps)
        live = sum(len(a.live_machines()) for a in apps)
        log.info("fly emulator: state restored", extra={"fields": {
            "apps": len(apps), "machines": live, "booting": len(boot), "stale_processes_killed": stale}})
        return boot

    def changed(self, now: bool = False) -> None:
        if now:
            self.flush()
            return
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(DEBOUNCE_S, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._state is None:
            return
        body = json.dumps(snapshot(self._state), separators=(",", ":")).encode()
        tmp = self.path.with_name(f".state.json.{os.getpid()}.tmp")
        # Owner-only: machine configs carry their env, gateway tokens included (like .data/local.env).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
