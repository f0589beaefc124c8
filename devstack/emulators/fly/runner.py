"""What "running a machine" means in each emulator mode.

`ProcessRunner` (mode "process", the default): every started machine is a local process group.
- Command: `machine_command` (default: the stdlib stub `stub_machine.py`, which serves `/health`,
  `/ready`, `/stream` and echoes everything else).
- Environment: a few host variables (PATH, HOME, LANG, TMPDIR, PYTHONPATH, VIRTUAL_ENV), then the
  emulator's `machine_env`, then the machine's `config.env`, then what Fly sets on a machine
  (`FLY_APP_NAME`, `FLY_MACHINE_ID`, `FLY_ALLOC_ID`, `FLY_REGION`, `FLY_PRIVATE_IP`, `FLY_IMAGE_REF`,
  `FLY_MACHINE_VERSION`, `FLY_PROCESS_GROUP`, `FLY_VM_MEMORY_MB`) and `PORT`: a free local port
  assigned once per machine, where the proxy sends its traffic (the service's `internal_port` is
  meaningless on one host).
- Volumes: each volume is a directory under the emulator's data dir. `FLY_EMULATOR_MOUNTS` holds
  `{"<mount path>": "<dir>"}`, and env values equal to or under a mount path (e.g.
  `OPENCLAW_STATE_DIR=/data`) are rewritten to the directory, so a workload written for `/data` works.
- stop: the stop signal (config `stop_config`, default SIGINT), SIGKILL after the timeout.
- suspend: SIGSTOP of the process group; start resumes it with SIGCONT (memory kept, like Fly's
  snapshot resume). Stopping a suspended machine SIGKILLs it (the snapshot is discarded).
- An exit the emulator did not ask for is reported to the state as a crash (and what is left of the
  process group is killed: a machine whose main process ended is down as a whole).
- Output goes to `<data dir>/machines/<id>.log`.
- Nothing outlives the emulator's process: each group is registered with the local guardian
  (`devstack/guardian.py`, which kills it if this process dies without stopping it) and its leader
  gets a parent-death signal (Linux); `process_record` is what a successor needs to kill it (persist.py).

`SimulatedRunner` (mode "simulated"): no processes at all; the proxy answers for the machine
itself, so one process can hold thousands of machines.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack import guardian as procs
from devstack.emulators.fly.workload import ExitCallback, LaunchFailed, MachineView

STUB_PATH = Path(__file__).with_name("stub_machine.py")
DEFAULT_COMMAND: tuple[str, ...] = (sys.executable, "-I", "-u", str(STUB_PATH))
_INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "PYTHONPATH", "VIRTUAL_ENV")

class SimulatedRunner:
    mode = "simulated"

    def __init__(self) -> None:
        self._on_exit: ExitCallback | None = None

    def bind(self, on_exit: ExitCallback) -> None:
        self._on_exit = on_exit

    async def launch(self, m: MachineView) -> None:
        return None

    async def halt(self, m: MachineView, sig: str, timeout: float) -> None:
        return None

    async def freeze(self, m: MachineView) -> None:
        return None

    async def thaw(self, m: MachineView) -> None:
        return None

    async def destroy(self, m: MachineView) -> None:
        return None

    async def crash(self, m: MachineView, exit_code: int) -> None:
        if self._on_exit is not None:
            self._on_exit(m, exit_code, -1)

    async def forget_volume(self, volume_id: str) -> None:
        return None

    def address(self, m: MachineView) -> tuple[str, int] | None:
        return None

    def alive(self, m: MachineView) -> bool:
        return m.state == "started"

    def process_count(self) -> int:
        return 0

    def process_record(self, m: MachineView) -> dict[str, int] | None:
        return None

    async def close(self) -> None:
        return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(eq=False)
class _Proc:
    port: int
    process: asyncio.subprocess.Process | None = None
    frozen: bool = False
    expected_exit: bool = False
    started: int | None = None  # kernel start time of the leader (guardian.start_time)


class ProcessRunner:
    mode = "process"

    def __init__(
        self,
        data_dir: Path,
        command: Sequence[str] | str | None = None,
        *,
        extra_env: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        guard: bool = True,
    ) -> None:
        self.data_dir = data_dir
        self.guard = guard
        self.command = tuple(shlex.split(command)) if isinstance(command, str) else tuple(command or DEFAULT_COMMAND)
        self.extra_env = dict(extra_env or {})
        self.host = host
        self._on_exit: ExitCallback | None = None
        self._procs: dict[str, _Proc] = {}
        self._closed = False

    def bind(self, on_exit: ExitCallback) -> None:
        self._on_exit = on_exit

    def _handle(self, m: MachineView) -> _Proc:
        if m.id not in self._procs:
            self._procs[m.id] = _Proc(port=free_port(self.host))
        return self._procs[m.id]

    def volume_dir(self, volume_id: str) -> Path:
        return self.data_dir / "volumes" / volume_id

    def _env(self, m: MachineView, port: int) -> dict[str, str]:
        mounts: dict[str, str] = {}
        for mount in m.config.get("mounts") or []:
            if mount.get("volume") and mount.get("path"):
                path = self.volume_dir(mount["volume"])
                path.mkdir(parents=True, exist_ok=True)
                mounts[mount["path"].rstrip("/") or "/"] = str(path)
        env = {k: os.environ[k] for k in _INHERITED_ENV if k in os.environ}
        env.update(self.extra_env)
        for key, value in (m.config.get("env") or {}).items():
            env[key] = _remap(value, mounts)
        guest = m.config.get("guest") or {}
        env.update(
            {
                "PORT": str(port),
                "FLY_APP_NAME": m.app.name,
                "FLY_MACHINE_ID": m.id,
                "FLY_ALLOC_ID": m.id,
                "FLY_REGION": m.region,
                "FLY_PRIVATE_IP": m.private_ip,
                "FLY_IMAGE_REF": str(m.config.get("image") or ""),
                "FLY_MACHINE_VERSION": m.instance_id,
                "FLY_PROCESS_GROUP": "app",
                "FLY_VM_MEMORY_MB": str(guest.get("memory_mb") or 256),
                "FLY_EMULATOR": "1",
                "FLY_EMULATOR_MOUNTS": json.dumps(mounts),
            }
        )
        return env

    async def launch(self, m: MachineView) -> None:
        h = self._handle(m)
        if h.process is not None and h.process.returncode is None:
            return
        workdir = self.data_dir / "machines" / m.id
        workdir.mkdir(parents=True, exist_ok=True)
        log_path = self.data_dir / "machines" / f"{m.id}.log"
        with open(log_path, "ab") as log_file:
            try:
                process = await asyncio.create_subprocess_exec(
                    *self.command,
                    env=self._env(m, h.port),
                    cwd=workdir,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,  # its own process group: signals reach its children too
                    preexec_fn=procs.die_with_parent() if self.guard else None,
                )
            except OSError as e:
                raise LaunchFailed(f"cannot run {self.command[0]!r}: {e}") from e
        if self.guard:
            procs.guardian().watch_group(self._guard_key(m.id), process.pid)
        if self._closed:  # the emulator shut down while this one was spawning
            self._signal_group(process, signal.SIGKILL)
            await process.wait()
            self._forget(m)
            return
        h.process, h.frozen, h.expected_exit = process, False, False
        h.started = procs.start_time(process.pid)
        asyncio.get_running_loop().create_task(self._watch(m, h, process))

    @staticmethod
    def _guard_key(machine_id: str) -> str:
        return f"fly-machine:{machine_id}"

    def _forget(self, m: MachineView) -> None:
        if self.guard:
            procs.guardian().forget(self._guard_key(m.id))

    async def _watch(self, m: MachineView, h: _Proc, process: asyncio.subprocess.Process) -> None:
        rc = await process.wait()
        if h.process is process and not h.expected_exit:
            h.process = None
            self._signal_group(process, signal.SIGKILL)  # whatever the machine's main process left running
            self._forget(m)
            if self._on_exit is not None:
                exit_code, sig = (rc, -1) if rc >= 0 else (128 - rc, -rc)
                self._on_exit(m, exit_code, sig)

    @staticmethod
    def _signal_group(process: asyncio.subprocess.Process, sig: int) -> None:
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    async def halt(self, m: MachineView, sig: str, timeout: float) -> None:
        h = self._procs.get(m.id)
        process = h.process if h else None
        if h is None or process is None or process.returncode is not None:
            if h is not None:
                h.process = None
            return
        h.expected_exit = True
        if h.frozen or sig == "SIGKILL":
            self._signal_group(process, signal.SIGKILL)  # a suspended VM's snapshot is simply discarded
        else:
            self._signal_group(process, getattr(signal, sig))
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            self._signal_group(process, signal.SIGKILL)
            await process.wait()
        # Children that ignored the signal go with the group.
        self._signal_group(process, signal.SIGKILL)
        h.process, h.frozen = None, False
        self._forget(m)

    async def freeze(self, m: MachineView) -> None:
        h = self._procs.get(m.id)
        if h and h.process and h.process.returncode is None:
            self._signal_group(h.process, signal.SIGSTOP)
            h.frozen = True

    async def thaw(self, m: MachineView) -> None:
        h = self._procs.get(m.id)
        if h and h.process and h.process.returncode is None and h.frozen:
            self._signal_group(h.process, signal.SIGCONT)
            h.frozen = False
            return
        await self.launch(m)  # nothing to resume: cold start, as Fly does when a snapshot is gone

    async def destroy(self, m: MachineView) -> None:
        await self.halt(m, "SIGKILL", 5.0)
        self._procs.pop(m.id, None)
        shutil.rmtree(self.data_dir / "machines" / m.id, ignore_errors=True)

    async def crash(self, m: MachineView, exit_code: int) -> None:
        h = self._procs.get(m.id)
        if h and h.process and h.process.returncode is None:
            self._signal_group(h.process, signal.SIGKILL)  # the watcher reports it as an exit

    async def forget_volume(self, volume_id: str) -> None:
        shutil.rmtree(self.volume_dir(volume_id), ignore_errors=True)

    def address(self, m: MachineView) -> tuple[str, int] | None:
        h = self._procs.get(m.id)
        return (self.host, h.port) if h else None

    def alive(self, m: MachineView) -> bool:
        h = self._procs.get(m.id)
        return bool(h and h.process and h.process.returncode is None)

    def process_count(self) -> int:
        return sum(1 for h in self._procs.values() if h.process is not None and h.process.returncode is None)

    def process_record(self, m: MachineView) -> dict[str, int] | None:
        h = self._procs.get(m.id)
        if h is None or h.process is None or h.process.returncode is not None:
            return None
        record = {"pgid": h.process.pid}
        if h.started is not None:
            record["started"] = h.started
        return record

    async def close(self) -> None:
        self._closed = True
        for mid, h in list(self._procs.items()):
            if h.process is not None and h.process.returncode is None:
                h.expected_exit = True
                self._signal_group(h.process, signal.SIGKILL)
                await h.process.wait()
            if self.guard:
                procs.guardian().forget(self._guard_key(mid))
        self._procs.clear()


def _remap(value: str, mounts: dict[str, str]) -> str:
    for path, local in mounts.items():
        if value == path or value.startswith(path + "/"):
            return local + value[len(path) :]
    return value
