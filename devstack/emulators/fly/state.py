"""The emulator's world: apps, volumes, machines, leases, metadata and events, in memory.

Everything here runs on the emulator's one event loop, so there are no locks between requests; a
per-machine `asyncio.Lock` only orders the background work of transitions.

Machine states follow CONTRACTS A.4. An API call checks the current state, moves the machine into the
transient state at once (`starting`, `stopping`, `suspending`, `restarting`, `updating`, `destroying`)
and answers; the work (process start/stop/SIGSTOP/…) runs in a task that sets the persistent state
(`started`, `stopped`, `suspended`, `destroyed`, `failed`) when done. Each call bumps the machine's
`generation`; a task that was overtaken by a newer call leaves the state to the newer one. Waiters
(`wait`, the proxy's autostart) sleep on an event that every state change sets.

Decisions where Fly's docs are silent (what the emulator answers):
- start from started/starting etc. → 412 "unable to start machine from current state"; stop of a
  stopped/created/failed machine → 200 no-op; suspend needs `started` and a suspend-eligible config
  (≤ 2 GB, no swap, no schedule) else 412; restart needs `started` else 412.
- update replaces the config, gives a new `instance_id` and (re)starts the machine unless
  `skip_launch` (then it ends `stopped`), as `fly machine update` does.
- delete of a running machine without `force` → 412; destroyed machines stay visible (state
  `destroyed`, `include_deleted`) until their app is deleted; their volume is released on `destroyed`.
- a crash (exit while `started`) records an `exit` event and follows `restart.policy`
  (default on-failure, max_retries default 10), else the machine ends `stopped`; a launch that cannot
  even spawn its process ends `failed`.
- a machine name is unique within its app (409), volume names are not (as on Fly).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from devstack.emulators.fly import ids
from devstack.emulators.fly.faults import FaultInjector
from devstack.emulators.fly.workload import LaunchFailed, Runner

log = logging.getLogger("devstack.emulators.fly")

PERSISTENT = frozenset({"created", "started", "stopped", "suspended", "failed"})
STARTABLE = frozenset({"created", "stopped", "suspended", "failed"})
DELETABLE = frozenset({"created", "stopped", "suspended", "failed"})
WAITABLE = frozenset({"started", "stopped", "suspended", "destroyed", "failed", "settled"})
SIGNALS = frozenset({"SIGHUP", "SIGINT", "SIGQUIT", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGTERM"})
DEFAULT_MAX_RETRIES = 10
_APP_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_VOLUME_NAME = re.compile(r"^[a-z0-9_]{1,30}$")


class ApiError(Exception):
    """Answered as `{"error": message, "status"?: fly_status}` with HTTP `status`."""

    def __init__(self, status: int, message: str, fly_status: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fly_status = fly_status


def parse_duration(value: str | int | float | None, default: float) -> float:
    """Go-style durations ("10s", "1500ms", "1m") or plain seconds."""
    if value is None or value == "":
        return default
    if isinstance(value, int | float):
        return float(value)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", value)
    if not m:
        raise ApiError(400, f"invalid duration {value!r}")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    return float(m.group(1)) * scale


@dataclass(eq=False)
class Lease:
    nonce: str
    owner: str
    description: str
    version: str
    expires_at: float

    def active(self) -> bool:
        return self.expires_at > time.time()

    def to_json(self) -> dict[str, Any]:
        return {
            "nonce": self.nonce,
            "expires_at": int(self.expires_at),
            "owner": self.owner,
            "description": self.description,
            "version": self.version,
        }


@dataclass(eq=False)
class Volume:
    id: str
    app: App
    name: str
    region: str
    size_gb: int
    encrypted: bool
    fstype: str
    snapshot_retention: int
    auto_backup_enabled: bool
    created_at: str = field(default_factory=ids.now_iso)
    zone: str = field(default_factory=lambda: secrets.token_hex(2))
    state: str = "created"
    attached_machine_id: str | None = None
    snapshots: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        blocks = self.size_gb * 262144  # 4 KiB blocks
        data = {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "region": self.region,
            "zone": self.zone,
            "size_gb": self.size_gb,
            "encrypted": self.encrypted,
            "fstype": self.fstype,
            "created_at": self.created_at,
            "attached_machine_id": self.attached_machine_id,
            "attached_alloc_id": self.attached_machine_id,
            "snapshot_retention": self.snapshot_retention,
            "auto_backup_enabled": self.auto_backup_enabled,
            "host_status": "ok",
            "type": "local",
            "block_size": 4096,
            "blocks": blocks,
            "blocks_free": blocks,
            "blocks_avail": blocks,
            "bytes_total": blocks * 4096,
            "bytes_used": 0,
        }
        return {k: v for k, v in data.items() if v is not None}  # the spec has no nullable fields


@dataclass(eq=False)
class Machine:
    id: str
    app: App
    name: str
    region: str
    config: dict[str, Any]
    instance_id: str
    private_ip: str
    state: str = "created"
    created_at: str = field(default_factory=ids.now_iso)
    updated_at: str = field(default_factory=ids.now_iso)
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=50))
    lease: Lease | None = None
    create_nonce: str | None = None
    generation: int = 0
    restarts: int = 0
    started_at: float = 0.0
    last_request_at: float = 0.0
    inflight: int = 0
    handle: Any = None  # the runner's per-machine record
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def metadata(self) -> dict[str, str]:
        return self.config.setdefault("metadata", {})

    @property
    def service(self) -> dict[str, Any]:
        services = self.config.get("services") or [{}]
        return services[0] or {}

    def autostart(self) -> bool:
        # Fly's proxy starts a machine for a service unless that service turns autostart off.
        services = self.config.get("services") or []
        return any(s.get("autostart", True) is not False for s in services) if services else True

    def autostop(self) -> str:
        value = self.service.get("autostop", "off")
        return {True: "stop", False: "off"}.get(value, value) if isinstance(value, bool) else str(value)

    def suspendable(self) -> str | None:
        """Why this machine cannot be suspended, or None."""
        guest = self.config.get("guest") or {}
        if (guest.get("memory_mb") or 256) > 2048:
            return "memory above 2 GB"
        if (self.config.get("init") or {}).get("swap_size_mb"):
            return "swap is configured"
        if self.config.get("schedule"):
            return "machine has a schedule"
        return None


@dataclass(eq=False)
class App:
    id: str
    name: str
    org_slug: str
    network: str
    number: int
    created_at: str = field(default_factory=ids.now_iso)
    machines: dict[str, Machine] = field(default_factory=dict)
    volumes: dict[str, Volume] = field(default_factory=dict)

    def live_machines(self) -> list[Machine]:
        return [m for m in self.machines.values() if m.state != "destroyed"]


class EmulatorState:
    def __init__(
        self,
        runner: Runner,
        faults: FaultInjector,
        *,
        owner: str = "emulator@openagents.local",
        org_name: str = "OpenAgents (emulated)",
    ) -> None:
        self.runner = runner
        self.faults = faults
        self.owner = owner
        self.org_name = org_name
        self.apps: dict[str, App] = {}
        self.machines: dict[str, Machine] = {}
        self._app_numbers = iter(range(1, 1 << 30))
        self._machine_numbers = iter(range(1, 1 << 30))
        self._tasks: set[asyncio.Task[Any]] = set()
        # Requests answered, by Machines API operation (`list_org_machines`, `restart_machine`, …) and
        # `proxy` for requests through the edge proxy: what benchmarks hold against Fly's rate limits.
        self.calls: Counter[str] = Counter()
        # Set by a store (persist.py) when the world is kept on disk; `now` = record before answering.
        self.on_change: Callable[[bool], None] | None = None

    # --- plumbing -------------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("emulator task failed", exc_info=task.exception())

    def _set_state(self, m: Machine, state: str) -> None:
        m.state = state
        m.updated_at = ids.now_iso()
        if state == "started":
            m.started_at = time.monotonic()
        # Wake every waiter, then give later waiters a fresh event.
        m.changed.set()
        m.changed = asyncio.Event()
        self.changed()

    def changed(self, *, now: bool = False) -> None:
        """Tell the store, if any, that the world changed (`now`: write it before answering)."""
        if self.on_change is not None:
            self.on_change(now)

    def adopt(self, apps: Iterable[App]) -> None:
        """Take in a world loaded from disk (persist.py): its apps and machines, counters past theirs."""
        for app in apps:
            self.apps[app.name] = app
            self.machines.update(app.machines)
        top_app = max((a.number for a in self.apps.values()), default=0)
        top_machine = max((ids.machine_number(m.private_ip) for m in self.machines.values()), default=0)
        self._app_numbers = iter(range(top_app + 1, 1 << 30))
        self._machine_numbers = iter(range(top_machine + 1, 1 << 30))

    def boot(self, machine_ids: Iterable[str]) -> None:
        """Start what was running before the host went down (after `adopt`; they are `stopped` now)."""
        for mid in machine_ids:
            m = self.machines.get(mid)
            if m is not None and m.state == "stopped":
                self._start(m, "flyd")

    def _event(self, m: Machine, kind: str, status: str, source: str, request: dict[str, Any] | None = None) -> None:
        event: dict[str, Any] = {
            "id": ids.ulid(),
            "type": kind,
            "status": status,
            "source": source,
            "timestamp": int(time.time() * 1000),
        }
        if request:
            event["request"] = request
        m.events.append(event)

    def _begin(self, m: Machine, transient: str) -> int:
        m.generation += 1
        self._set_state(m, transient)
        return m.generation

    def _transition(
        self,
        m: Machine,
        transient: str,
        final: str,
        work: Callable[[], Awaitable[None]],
        event: str,
        source: str,
        *,
        pre_delay: float = 0.0,
        after: Callable[[], None] | None = None,
    ) -> None:
        gen = self._begin(m, transient)
        self.spawn(self._run_transition(m, gen, final, work, event, source, pre_delay, after))

    async def _run_transition(
        self,
        m: Machine,
        gen: int,
        final: str,
        work: Callable[[], Awaitable[None]],
        event: str,
        source: str,
        pre_delay: float,
        after: Callable[[], None] | None,
    ) -> None:
        if pre_delay:
            await asyncio.sleep(pre_delay)  # outside the lock: a stop may overtake a slow start
        async with m.lock:
            if m.generation != gen:
                return
            try:
                await work()
            except LaunchFailed as e:
                if m.generation == gen:
                    self._event(m, "launch", "failed", source, {"error": str(e)})
                    self._set_state(m, "failed")
                return
            if m.generation != gen:
                return
            if after is not None:
                after()
            self._set_state(m, final)
            self._event(m, event, final, source)
            if final == "started":
                self._maybe_crash(m, gen)

    # --- apps -----------------------------------------------------------------------------------

    def create_app(self, body: dict[str, Any]) -> App:
        name = body.get("name") or body.get("app_name")
        org = body.get("org_slug")
        if not isinstance(name, str) or not _APP_NAME.match(name):
            raise ApiError(400, "app name must be lowercase letters, digits and dashes (max 63)")
        if not isinstance(org, str) or not org:
            raise ApiError(400, "org_slug is required")
        if name in self.apps:
            raise ApiError(422, "Name has already been taken")
        app = App(id=ids.app_id(), name=name, org_slug=org, network=body.get("network") or "default", number=next(self._app_numbers))
        self.apps[name] = app
        return app

    def get_app(self, name: str) -> App:
        app = self.apps.get(name)
        if app is None:
            raise ApiError(404, "app not found")
        return app

    def list_apps(self, org_slug: str) -> list[App]:
        return [a for a in self.apps.values() if a.org_slug == org_slug]

    def app_json(self, app: App) -> dict[str, Any]:
        live = app.live_machines()
        return {
            "id": app.id,
            "name": app.name,
            "internal_numeric_id": app.number,
            "network": app.network,
            "status": "deployed" if live else "pending",
            "organization": {"name": self.org_name, "slug": app.org_slug},
            "machine_count": len(live),
            "volume_count": len(app.volumes),
        }

    async def delete_app(self, name: str) -> None:
        app = self.get_app(name)
        del self.apps[name]
        for m in list(app.machines.values()):
            m.generation += 1  # transitions not yet begun will see they were overtaken
            async with m.lock:  # one in the middle of a launch finishes first, then is killed
                await self.runner.destroy(m)
            self._set_state(m, "destroyed")
            self.machines.pop(m.id, None)
        for v in app.volumes.values():
            await self.runner.forget_volume(v.id)

    # --- volumes --------------------------------------------------------------------------------

    def create_volume(self, app_name: str, body: dict[str, Any]) -> Volume:
        app = self.get_app(app_name)
        name, region = body.get("name"), body.get("region")
        if not isinstance(name, str) or not _VOLUME_NAME.match(name):
            raise ApiError(400, "volume name must be 1-30 lowercase letters, digits or underscores")
        if not isinstance(region, str) or not region:
            raise ApiError(400, "region is required")
        size = body.get("size_gb") or 1
        if not isinstance(size, int) or size < 1 or size > 500:
            raise ApiError(400, "size_gb must be between 1 and 500")
        if self.faults.capacity("create_volume", region):
            raise ApiError(422, f"insufficient resources to create volume in {region}", "insufficient_capacity")
        vol = Volume(
            id=ids.volume_id(),
            app=app,
            name=name,
            region=region,
            size_gb=size,
            encrypted=body.get("encrypted", True) is not False,
            fstype=body.get("fstype") or "ext4",
            snapshot_retention=int(body.get("snapshot_retention") or 5),
            auto_backup_enabled=body.get("auto_backup_enabled", True) is not False,
        )
        app.volumes[vol.id] = vol
        return vol

    def get_volume(self, app_name: str, volume_id: str) -> Volume:
        vol = self.get_app(app_name).volumes.get(volume_id)
        if vol is None:
            raise ApiError(404, "volume not found")
        return vol

    async def delete_volume(self, app_name: str, volume_id: str) -> Volume:
        vol = self.get_volume(app_name, volume_id)
        if vol.attached_machine_id:
            raise ApiError(412, f"volume {vol.id} is attached to machine {vol.attached_machine_id}")
        del vol.app.volumes[vol.id]
        vol.state = "destroyed"
        await self.runner.forget_volume(vol.id)
        return vol

    def create_snapshot(self, app_name: str, volume_id: str) -> None:
        vol = self.get_volume(app_name, volume_id)
        vol.snapshots.append(
            {
                "id": ids.snapshot_id(),
                "created_at": ids.now_iso(),
                "digest": hashlib.sha256(f"{vol.id}:{len(vol.snapshots)}".encode()).hexdigest(),
                "size": 0,
                "status": "created",
                "retention_days": vol.snapshot_retention,
                "volume_size": vol.size_gb << 30,
            }
        )

    def _attach_volumes(self, m: Machine, config: dict[str, Any]) -> list[Volume]:
        """Resolve `mounts` to volumes of the app in the machine's region (by id, or a free one by name)."""
        found: list[Volume] = []
        for mount in config.get("mounts") or []:
            if not isinstance(mount, dict) or not mount.get("path"):
                raise ApiError(400, "each mount needs a path")
            vid = mount.get("volume")
            if vid:
                vol = m.app.volumes.get(vid)
                if vol is None:
                    raise ApiError(404, f"volume {vid} not found")
            else:
                vol = next(
                    (v for v in m.app.volumes.values() if v.name == mount.get("name") and not v.attached_machine_id and v.region == m.region),
                    None,
                )
                if vol is None:
                    raise ApiError(400, f"no free volume named {mount.get('name')!r} in {m.region}")
                mount["volume"] = vol.id
            if vol.region != m.region:
                raise ApiError(400, f"volume {vol.id} is in {vol.region}, machine in {m.region}")
            if vol.attached_machine_id not in (None, m.id):
                raise ApiError(412, f"volume {vol.id} is already attached to machine {vol.attached_machine_id}")
            found.append(vol)
        return found

    # --- machines: lookup -----------------------------------------------------------------------

    def get_machine(self, app_name: str, machine_id: str) -> Machine:
        m = self.get_app(app_name).machines.get(machine_id)
        if m is None:
            raise ApiError(404, "machine not found")
        return m

    def live_machine(self, app_name: str, machine_id: str) -> Machine:
        m = self.get_machine(app_name, machine_id)
        if m.state in ("destroyed", "destroying"):
            raise ApiError(404, f"machine {machine_id} is {m.state}")
        return m

    def list_machines(
        self, app_name: str, *, states: set[str] | None, region: str | None, include_deleted: bool
    ) -> list[Machine]:
        out = []
        for m in self.get_app(app_name).machines.values():
            if m.state == "destroyed" and not include_deleted:
                continue
            if states and m.state not in states:
                continue
            if region and m.region != region:
                continue
            out.append(m)
        return out

    def org_machines(self, org_slug: str) -> Iterable[Machine]:
        for app in self.apps.values():
            if app.org_slug == org_slug:
                yield from app.machines.values()

    def machine_json(self, m: Machine, *, summary: bool = False, with_nonce: bool = False) -> dict[str, Any]:
        image = str(m.config.get("image") or "")
        repo, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
        registry, _, repository = repo.partition("/") if "/" in repo else ("docker.io", "", repo)
        data: dict[str, Any] = {
            "id": m.id,
            "name": m.name,
            "state": m.state,
            "region": m.region,
            "instance_id": m.instance_id,
            "private_ip": m.private_ip,
            "created_at": m.created_at,
            "updated_at": m.updated_at,
            "host_status": "ok",
            "image_ref": {
                "registry": registry,
                "repository": repository,
                "tag": tag or "latest",
                "digest": "sha256:" + hashlib.sha256(image.encode()).hexdigest(),
                "labels": {},
            },
        }
        if not summary:
            data["config"] = m.config
            data["events"] = list(reversed(m.events))[:20]
            data["checks"] = self._checks(m)
        if with_nonce and m.create_nonce:
            data["nonce"] = m.create_nonce
        return data

    def _checks(self, m: Machine) -> list[dict[str, Any]]:
        # Reported, not probed: passing while the workload is up, critical if it died, warning otherwise.
        if m.state == "started":
            status = "passing" if self.runner.alive(m) else "critical"
        else:
            status = "warning"
        return [
            {"name": name, "status": status, "output": f"emulated check ({m.state})", "updated_at": m.updated_at}
            for name in (m.config.get("checks") or {})
        ]

    # --- machines: create / update --------------------------------------------------------------

    @staticmethod
    def _validate_config(config: Any) -> dict[str, Any]:
        if not isinstance(config, dict):
            raise ApiError(400, "config is required")
        if not isinstance(config.get("image"), str) or not config["image"]:
            raise ApiError(400, "config.image is required")
        env = config.get("env") or {}
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise ApiError(400, "config.env must map names to strings")
        for service in config.get("services") or []:
            autostop = service.get("autostop")
            if autostop is not None and autostop not in ("off", "stop", "suspend", True, False):
                raise ApiError(400, f"invalid autostop {autostop!r}")
        meta = config.get("metadata") or {}
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise ApiError(400, "config.metadata must map names to strings")
        return config

    def create_machine(self, app_name: str, body: dict[str, Any]) -> Machine:
        app = self.get_app(app_name)
        config = self._validate_config(body.get("config"))
        region = body.get("region") or "iad"
        name = body.get("name") or f"m-{secrets.token_hex(4)}"
        if any(m.name == name and m.state != "destroyed" for m in app.machines.values()):
            raise ApiError(409, f"a machine named {name!r} already exists")
        if self.faults.capacity("create_machine", region):
            raise ApiError(422, f"insufficient resources available to fulfill request in {region}", "insufficient_capacity")
        m = Machine(
            id=ids.machine_id(),
            app=app,
            name=name,
            region=region,
            config=config,
            instance_id=ids.ulid(),
            private_ip=ids.private_ip(app.number, next(self._machine_numbers)),
        )
        volumes = self._attach_volumes(m, config)
        for vol in volumes:
            vol.attached_machine_id = m.id
        app.machines[m.id] = m
        self.machines[m.id] = m
        self._event(m, "launch", "created", "user")
        lease_ttl = body.get("lease_ttl")
        if lease_ttl:
            m.lease = Lease(ids.nonce(), self.owner, "created with lease_ttl", m.instance_id, time.time() + int(lease_ttl))
            m.create_nonce = m.lease.nonce
        if not body.get("skip_launch"):
            # Next loop turn: the create answer shows `created`, as Fly's does.
            asyncio.get_running_loop().call_soon(self._launch_created, m)
        return m

    def _launch_created(self, m: Machine) -> None:
        if m.state == "created":
            self._start(m, "user")

    def update_machine(self, m: Machine, body: dict[str, Any], nonce: str | None) -> Machine:
        self._check_lease(m, nonce)
        self._require_live(m)
        current = body.get("current_version")
        if current and current != m.instance_id:
            raise ApiError(412, f"machine version {m.instance_id} is not {current}")
        config = self._validate_config(body.get("config"))
        volumes = self._attach_volumes(m, config)
        for vol in m.app.volumes.values():
            if vol.attached_machine_id == m.id and vol not in volumes:
                vol.attached_machine_id = None
        for vol in volumes:
            vol.attached_machine_id = m.id
        m.config = config
        m.instance_id = ids.ulid()
        m.restarts = 0
        if body.get("skip_launch"):
            final, work = "stopped", lambda: self.runner.halt(m, "SIGKILL", 0)
        else:
            final = "started"

            async def work() -> None:
                await self.runner.halt(m, self._stop_signal(m, None), self._stop_timeout(m, None))
                await self.runner.launch(m)

        self._transition(m, "updating", final, work, "update", "user")
        return m

    # --- machines: actions ----------------------------------------------------------------------

    def _require_live(self, m: Machine) -> None:
        if m.state in ("destroyed", "destroying"):
            raise ApiError(412, f"machine is {m.state}")

    def _check_lease(self, m: Machine, nonce: str | None) -> None:
        lease = m.lease
        if lease is not None and lease.active() and nonce != lease.nonce:
            raise ApiError(409, f"machine {m.id} is leased by {lease.owner} until {int(lease.expires_at)}")

    @staticmethod
    def _stop_signal(m: Machine, signal: str | None) -> str:
        sig = signal or (m.config.get("stop_config") or {}).get("signal") or "SIGINT"
        if sig not in SIGNALS:
            raise ApiError(400, f"invalid signal {sig!r}")
        return sig

    @staticmethod
    def _stop_timeout(m: Machine, timeout: str | None) -> float:
        return parse_duration(timeout or (m.config.get("stop_config") or {}).get("timeout"), 5.0)

    def _start(self, m: Machine, source: str) -> None:
        resume = m.state == "suspended"
        m.restarts = 0 if source == "user" else m.restarts
        work = (lambda: self.runner.thaw(m)) if resume else (lambda: self.runner.launch(m))
        self._transition(m, "starting", "started", work, "start", source, pre_delay=self.faults.start_delay())

    def start_machine(self, m: Machine, nonce: str | None, *, source: str = "user") -> str:
        self._check_lease(m, nonce)
        if m.state not in STARTABLE:
            raise ApiError(412, f"unable to start machine from current state: '{m.state}'")
        previous = m.state
        self._start(m, source)
        return previous

    def stop_machine(self, m: Machine, signal: str | None, timeout: str | None, nonce: str | None, *, source: str = "user") -> None:
        self._check_lease(m, nonce)
        self._require_live(m)
        if m.state in ("stopped", "created", "failed"):
            return
        sig, seconds = self._stop_signal(m, signal), self._stop_timeout(m, timeout)
        self._transition(m, "stopping", "stopped", lambda: self.runner.halt(m, sig, seconds), "stop", source)

    def suspend_machine(self, m: Machine, nonce: str | None, *, source: str = "user") -> None:
        self._check_lease(m, nonce)
        if m.state != "started":
            raise ApiError(412, f"unable to suspend machine from current state: '{m.state}'")
        if reason := m.suspendable():
            raise ApiError(412, f"machine cannot be suspended: {reason}")
        self._transition(m, "suspending", "suspended", lambda: self.runner.freeze(m), "suspend", source)

    def restart_machine(self, m: Machine, signal: str | None, timeout: str | None, nonce: str | None) -> None:
        self._check_lease(m, nonce)
        if m.state != "started":
            raise ApiError(412, f"unable to restart machine from current state: '{m.state}'")
        sig, seconds = self._stop_signal(m, signal), self._stop_timeout(m, timeout)

        async def work() -> None:
            await self.runner.halt(m, sig, seconds)
            await self.runner.launch(m)

        self._transition(m, "restarting", "started", work, "restart", "user")

    def delete_machine(self, m: Machine, force: bool, nonce: str | None) -> None:
        self._check_lease(m, nonce)
        if m.state == "destroyed":
            raise ApiError(404, "machine not found")
        if m.state == "destroying":
            return
        if m.state not in DELETABLE and not force:
            raise ApiError(412, "unable to destroy machine, not currently stopped or suspended (use force)")

        def release() -> None:
            for vol in m.app.volumes.values():
                if vol.attached_machine_id == m.id:
                    vol.attached_machine_id = None
            m.lease = None

        self._transition(m, "destroying", "destroyed", lambda: self.runner.destroy(m), "destroy", "user", after=release)

    # --- crashes --------------------------------------------------------------------------------

    def _maybe_crash(self, m: Machine, gen: int) -> None:
        planned = self.faults.crash()
        if planned is not None:
            after_s, exit_code = planned
            self.spawn(self._crash_later(m, gen, after_s, exit_code))

    async def _crash_later(self, m: Machine, gen: int, after_s: float, exit_code: int) -> None:
        await asyncio.sleep(after_s)
        if m.generation == gen and m.state == "started":
            await self.runner.crash(m, exit_code)

    def on_exit(self, m: Machine, exit_code: int, signal: int = -1) -> None:
        """The workload of a `started` machine ended by itself (crash or clean exit)."""
        if m.state != "started" or m.id not in self.machines:
            return
        restart = (m.config.get("restart") or {})
        policy = restart.get("policy") or "on-failure"
        max_retries = restart.get("max_retries")
        max_retries = DEFAULT_MAX_RETRIES if max_retries is None else int(max_retries)
        again = m.restarts < max_retries and (policy == "always" or (policy in ("on-failure", "spot-price") and exit_code != 0))
        self._event(
            m,
            "exit",
            "stopped",
            "flyd",
            {
                "exit_event": {
                    "exit_code": exit_code,
                    "signal": signal,
                    "oom_killed": False,
                    "requested_stop": False,
                    "restarting": again,
                    "exited_at": ids.now_iso(),
                }
            },
        )
        if m.config.get("auto_destroy") and not again:
            self._transition(m, "destroying", "destroyed", lambda: self.runner.destroy(m), "destroy", "flyd")
            return
        if again:
            m.restarts += 1
            self._transition(m, "starting", "started", lambda: self.runner.launch(m), "start", "flyd")
        else:
            self._begin(m, "stopped")

    # --- wait -----------------------------------------------------------------------------------

    @staticmethod
    def _reached(m: Machine, states: set[str], version: str | None) -> bool:
        if version and m.instance_id != version:
            return False
        if m.state in states:
            return True
        return "settled" in states and (m.state in PERSISTENT or m.state == "destroyed")

    async def wait(self, m: Machine, states: set[str], timeout: float, version: str | None) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._reached(m, states, version):
            if m.state == "destroyed" and not {"destroyed", "settled"} & states:
                raise ApiError(404, "machine was destroyed")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ApiError(408, f"timed out waiting for machine to be {'/'.join(sorted(states))} (it is {m.state})")
            try:
                await asyncio.wait_for(m.changed.wait(), remaining)
            except TimeoutError:
                pass
        last = m.events[-1]["id"] if m.events else ids.ulid()
        return {"ok": True, "state": m.state, "event_id": last, "version": m.instance_id}

    async def ensure_started(self, m: Machine, timeout: float, *, autostart: bool = True) -> bool:
        """The proxy's autostart: start a stopped/suspended machine and wait until it is `started`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while m.state != "started":
            if m.state == "destroyed" or m.id not in self.machines:
                return False
            if m.state in STARTABLE:
                if not (autostart and m.autostart()):
                    return False
                self._start(m, "fly-proxy")
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(m.changed.wait(), remaining)
            except TimeoutError:
                return False
        return True

    # --- leases ---------------------------------------------------------------------------------

    def acquire_lease(self, m: Machine, body: dict[str, Any], nonce: str | None) -> Lease:
        self._require_live(m)
        ttl = body.get("ttl") or 30
        if not isinstance(ttl, int) or ttl < 1:
            raise ApiError(400, "ttl must be a positive integer (seconds)")
        lease = m.lease
        if lease is not None and lease.active():
            if nonce != lease.nonce:
                raise ApiError(409, f"lease currently held by {lease.owner}, expires at {int(lease.expires_at)}")
            lease.expires_at = time.time() + ttl
            return lease
        m.lease = Lease(ids.nonce(), self.owner, str(body.get("description") or ""), m.instance_id, time.time() + ttl)
        return m.lease

    def get_lease(self, m: Machine) -> Lease:
        if m.lease is None or not m.lease.active():
            raise ApiError(404, "no active lease")
        return m.lease

    def release_lease(self, m: Machine, nonce: str | None) -> None:
        lease = self.get_lease(m)
        if nonce != lease.nonce:
            raise ApiError(409, "lease nonce does not match")
        m.lease = None

    # --- metadata -------------------------------------------------------------------------------

    def set_metadata(self, m: Machine, key: str, value: Any, nonce: str | None) -> None:
        self._check_lease(m, nonce)
        self._require_live(m)
        if value is None or value == "":
            m.metadata.pop(key, None)
        elif not isinstance(value, str):
            raise ApiError(400, "metadata values are strings")
        else:
            m.metadata[key] = value
        m.updated_at = ids.now_iso()

    def delete_metadata(self, m: Machine, key: str, nonce: str | None) -> None:
        self._check_lease(m, nonce)
        self._require_live(m)
        m.metadata.pop(key, None)
        m.updated_at = ids.now_iso()

    def update_metadata(self, m: Machine, body: dict[str, Any], nonce: str | None, *, replace: bool) -> None:
        self._check_lease(m, nonce)
        self._require_live(m)
        version = body.get("machine_version")
        if version and version != m.instance_id:
            raise ApiError(412, f"machine_version {version} is not current ({m.instance_id})")
        values = body.get("metadata")
        if not isinstance(values, dict):
            raise ApiError(400, "metadata object is required")
        merged = {} if replace else dict(m.metadata)
        for k, v in values.items():
            if v is None or v == "":
                merged.pop(k, None)
            elif isinstance(v, str):
                merged[k] = v
            else:
                raise ApiError(400, "metadata values are strings")
        m.config["metadata"] = merged
        m.updated_at = ids.now_iso()

    # --- autostop (Fly's proxy stops idle machines) ---------------------------------------------

    async def autostop_loop(self, idle_s: float) -> None:
        while True:
            await asyncio.sleep(min(1.0, idle_s / 4))
            now = time.monotonic()
            for app in list(self.apps.values()):
                running = [m for m in app.machines.values() if m.state == "started"]
                keep = max((m.service.get("min_machines_running") or 0 for m in app.live_machines()), default=0)
                spare = len(running) - keep
                for m in running:
                    if spare <= 0:
                        break
                    mode = m.autostop()
                    if mode == "off" or m.inflight or now - max(m.started_at, m.last_request_at) < idle_s:
                        continue
                    if mode == "suspend" and m.suspendable() is None:
                        self._transition(m, "suspending", "suspended", lambda m=m: self.runner.freeze(m), "suspend", "fly-proxy")
                    else:
                        self._transition(
                            m, "stopping", "stopped", lambda m=m: self.runner.halt(m, self._stop_signal(m, None), 5.0), "stop", "fly-proxy"
                        )
                    spare -= 1

    # --- inspection -----------------------------------------------------------------------------

    def counts(self) -> dict[str, Any]:
        by_state: dict[str, int] = {}
        destroyed = 0
        leases = 0
        for m in self.machines.values():
            if m.state == "destroyed":
                destroyed += 1
                continue
            by_state[m.state] = by_state.get(m.state, 0) + 1
            leases += bool(m.lease and m.lease.active())
        return {
            "apps": len(self.apps),
            "volumes": sum(len(a.volumes) for a in self.apps.values()),
            "machines": by_state,
            "machines_total": sum(by_state.values()),
            "destroyed_machines": destroyed,
            "leases": leases,
            "processes": self.runner.process_count(),
        }

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.runner.close()
