"""The real agent runtime on this machine: Node ≥ 24 and the pinned `openclaw`, installed on demand and
cached, plus helpers that start a gateway or a whole agent machine (entrypoint + bridge) locally.

Nothing here runs unless asked: `make dev` and most tests use the offline runtime. Install is
`npm i node-<os>-<arch>@24.21.0` then, with that Node first on PATH, `npm i openclaw@<pinned>` into
`$OPENAGENTS_CACHE_DIR` (default `~/.cache/openagents`)`/openclaw-<version>/` (~650 MB, ~25 s),
guarded by a file lock and finished by a marker file, so it runs once per version and machine. The
version is `fly/agent/OPENCLAW_VERSION`, the one pin the image build uses too. npm must be on PATH
and reach its registry; nothing else is downloaded.

    install(...) -> OpenClawInstall                    install (or reuse) Node + openclaw
    find_install(...) -> OpenClawInstall | None         the cached install, if complete
    start_gateway(state_dir, llm_base_url=..., ...)     a bare OpenClaw gateway on loopback (CONTRACTS §H.3 recipe)
    agent_machine_command(), machine_host_env(...)      how to run agent machines as local processes (emulator)
    agent_machine_env(...)                              the whole env of one local machine
    start_agent_machine(data_dir, ...)                  run it and wait for the bridge's /ready

Every address involved is loopback. Errors: OpenClawInstallError (npm missing or failing),
ProcessStartError (a process died or never got ready; carries the log tail).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from fly.agent import ENTRYPOINT, openclaw_version
from fly.agent.bridge.openclaw_config import prepare_config

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NODE_VERSION = "24.21.0"
_HOST_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "VIRTUAL_ENV")
OPENCLAW_VERSION = openclaw_version()


class OpenClawInstallError(RuntimeError):
    pass


class ProcessStartError(RuntimeError):
    pass


def cache_root() -> Path:
    if os.environ.get("OPENAGENTS_CACHE_DIR"):
        return Path(os.environ["OPENAGENTS_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "openagents"


def node_package() -> str:
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    system = {"linux": "linux", "darwin": "darwin"}.get(sys.platform)
    if not arch or not system:
        raise OpenClawInstallError(f"no Node package for {sys.platform}/{platform.machine()}")
    return f"node-{system}-{arch}"


@dataclass(frozen=True)
class OpenClawInstall:
    root: Path
    version: str

    @property
    def node_bin(self) -> Path:
        return self.root / "node" / "node_modules" / node_package() / "bin" / "node"

    @property
    def entry(self) -> Path:
        return self.root / "app" / "node_modules" / "openclaw" / "openclaw.mjs"

    @property
    def marker(self) -> Path:
        return self.root / ".installed.json"

    def path_env(self, base: str | None = None) -> str:
        return f"{self.node_bin.parent}{os.pathsep}{base if base is not None else os.environ.get('PATH', '')}"


def _install_dir(version: str, cache_dir: Path | None) -> Path:
    return (cache_dir or cache_root()) / f"openclaw-{version}"


def find_install(version: str = OPENCLAW_VERSION, cache_dir: Path | None = None) -> OpenClawInstall | None:
    inst = OpenClawInstall(_install_dir(version, cache_dir), version)
    if inst.marker.exists() and inst.node_bin.exists() and inst.entry.exists():
        return inst
    return None


def _run(cmd: list[str], env: Mapping[str, str], timeout: float, log: Callable[[str], None]) -> None:
    log("$ " + " ".join(cmd))
    try:
        proc = subprocess.run(cmd, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    except subprocess.TimeoutExpired as exc:
        raise OpenClawInstallError(f"timed out after {timeout:.0f} s: {' '.join(cmd)}") from exc
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise OpenClawInstallError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{tail}")


def install(version: str = OPENCLAW_VERSION, cache_dir: Path | None = None, *,
            log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
            timeout: float = 900.0) -> OpenClawInstall:
    """Installs Node and openclaw@version into the cache (once; concurrent callers wait on a lock)."""
    found = find_install(version, cache_dir)
    if found:
        return found
    npm = shutil.which("npm")
    if not npm:
        raise OpenClawInstallError("npm is not on PATH: install Node's npm (e.g. `apt-get install npm`) to "
                                   "fetch Node 24 and openclaw from the npm registry")
    inst = OpenClawInstall(_install_dir(version, cache_dir), version)
    inst.root.mkdir(parents=True, exist_ok=True)
    with open(inst.root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = find_install(version, cache_dir)
        if found:
            return found
        started = time.monotonic()
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("npm_config_")}
        base_env.update({"npm_config_update_notifier": "false", "npm_config_fund": "false",
                         "npm_config_audit": "false"})
        flags = ["--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error"]
        log(f"installing Node {NODE_VERSION} and openclaw {version} into {inst.root} (once; ~650 MB)")
        _run([npm, "install", "--prefix", str(inst.root / "node"), f"{node_package()}@{NODE_VERSION}", *flags],
             base_env, timeout, log)
        if not inst.node_bin.exists():
            raise OpenClawInstallError(f"Node binary missing after install: {inst.node_bin}")
        # openclaw's install scripts check the running Node: put Node 24 first on PATH for npm too.
        env = {**base_env, "PATH": inst.path_env(base_env.get("PATH", ""))}
        _run([npm, "install", "--prefix", str(inst.root / "app"), f"openclaw@{version}", *flags], env, timeout, log)
        pkg = json.loads((inst.entry.parent / "package.json").read_text())
        if pkg.get("version") != version:
            raise OpenClawInstallError(f"installed openclaw {pkg.get('version')}, expected {version}")
        node_v = subprocess.run([str(inst.node_bin), "--version"], capture_output=True, text=True,  # noqa: S603
                                check=True).stdout.strip()
        inst.marker.write_text(json.dumps({"openclaw": version, "node": node_v,
                                           "seconds": round(time.monotonic() - started, 1)}))
        log(f"installed openclaw {version} with Node {node_v} in {time.monotonic() - started:.0f} s")
        return inst


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalProcess:
    """A process group started here: `stop()` ends the whole group (OpenClaw spawns workers)."""

    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path
    token: str = field(repr=False, default="")
    data_dir: Path | None = None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers of the group
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)

    def __enter__(self) -> LocalProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _spawn(cmd: list[str], env: Mapping[str, str], cwd: Path, log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        return subprocess.Popen(cmd, env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT,  # noqa: S603
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _wait_ready(local: LocalProcess, path: str, timeout: float, headers: Mapping[str, str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if not local.alive():
                raise ProcessStartError(f"process exited ({local.proc.returncode}) before {path} was ready:\n"
                                        + local.log_tail())
            with contextlib.suppress(httpx.HTTPError):
                if client.get(local.url + path, headers=dict(headers or {})).status_code == 200:
                    return
            time.sleep(0.25)
    local.stop()
    raise ProcessStartError(f"{local.url}{path} not ready after {timeout:.0f} s:\n" + local.log_tail())


def _openclaw_env(install: OpenClawInstall, state_dir: Path, home: Path, token: str,
                  llm_api_key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "npm_config_"))}
    env.update({
        "PATH": install.path_env(env.get("PATH", "")),
        "HOME": str(home),
        "OPENCLAW_STATE_DIR": str(state_dir),
        "OPENCLAW_GATEWAY_TOKEN": token,
        "OPENCLAW_DISABLE_BONJOUR": "1",
        "OPENCLAW_NO_AUTO_UPDATE": "1",
        "OPENCLAW_OFFLINE": "1",
    })
    if llm_api_key is not None:
        env["AGENT_LLM_API_KEY"] = llm_api_key
    return env


def start_gateway(state_dir: Path, *, llm_base_url: str, token: str, llm_model: str = "fake-model",
                  llm_api_key: str = "fake-key", port: int | None = None, openclaw: OpenClawInstall | None = None,
                  ready_timeout: float = 120.0) -> LocalProcess:
    """A bare OpenClaw gateway on 127.0.0.1 with the machine's config recipe, waited for `/readyz`."""
    inst = openclaw or install()
    port = port or free_port()
    home = state_dir.parent / (state_dir.name + "-home")
    home.mkdir(parents=True, exist_ok=True)
    prepare_config(state_dir, {"OPENCLAW_GATEWAY_PORT": str(port), "AGENT_LLM_BASE_URL": llm_base_url,
                               "AGENT_LLM_MODEL": llm_model, "OPENCLAW_GATEWAY_TOKEN": token})
    env = _openclaw_env(inst, state_dir, home, token, llm_api_key)
    cmd = [str(inst.node_bin), str(inst.entry), "gateway", "run", "--bind", "loopback", "--port", str(port)]
    log_path = state_dir.parent / (state_dir.name + "-gateway.log")
    local = LocalProcess(_spawn(cmd, env, state_dir, log_path), f"http://127.0.0.1:{port}", log_path, token, state_dir)
    _wait_ready(local, "/readyz", ready_timeout)
    return local


def agent_machine_command() -> list[str]:
    """The machine's process: the image's entrypoint, run with bash (it execs the bridge when offline)."""
    return ["bash", str(ENTRYPOINT)]


def machine_host_env(runtime: str = "offline", openclaw: OpenClawInstall | None = None, *,
                     llm_base_url: str | None = None, llm_api_key: str | None = None,
                     llm_model: str | None = None) -> dict[str, str]:
    """What a local process needs on top of a machine's own config env to run the agent machine on this
    host: this checkout's Python, and for `runtime="openclaw"` the cached Node/openclaw, a free
    OpenClaw port per machine (`auto`), HOME on the machine's volume and the LLM to use. The same for
    every machine, so the Fly emulator can pass it as its `machine_env` (entrypoint.sh maps `/data`
    through the emulator's `FLY_EMULATOR_MOUNTS`)."""
    env = {
        "PYTHON": sys.executable,
        "PYTHONPATH": str(PROJECT_ROOT),
        "BRIDGE_HOST": "127.0.0.1",
        "OPENAGENTS_AGENT_RUNTIME": runtime,
    }
    if runtime == "openclaw":
        if openclaw is None:
            raise ValueError("the openclaw runtime needs an OpenClawInstall (install())")
        env.update({
            "PATH": openclaw.path_env(os.environ.get("PATH", "")),
            "OPENCLAW_NODE": str(openclaw.node_bin),
            "OPENCLAW_ENTRY": str(openclaw.entry),
            "OPENCLAW_GATEWAY_PORT": "auto",
            "AGENT_HOME": ".openagents/home",  # relative: under each machine's data dir
            "OPENCLAW_OFFLINE": "1",
        })
        if llm_base_url:
            env["AGENT_LLM_BASE_URL"] = llm_base_url
        if llm_api_key:
            env["AGENT_LLM_API_KEY"] = llm_api_key
        if llm_model:
            env["AGENT_LLM_MODEL"] = llm_model
    return env


def agent_machine_env(*, data_dir: Path, port: int, gateway_token: str, runtime: str = "offline",
                      openclaw: OpenClawInstall | None = None, llm_base_url: str | None = None,
                      llm_api_key: str | None = None, llm_model: str | None = None,
                      signing_public_keys: str | None = None,
                      extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of one local agent machine: the host part (machine_host_env) plus what
    Fly's machine config sets in production (token, port, volume path, signing keys)."""
    # A machine gets what Fly would give it, never the platform's own secrets from this process's env.
    env = {k: os.environ[k] for k in _HOST_ENV if k in os.environ}
    env.update(machine_host_env(runtime, openclaw, llm_base_url=llm_base_url, llm_api_key=llm_api_key,
                                llm_model=llm_model))
    env.update({"PORT": str(port), "BRIDGE_DATA_DIR": str(data_dir), "GATEWAY_TOKEN": gateway_token})
    if signing_public_keys:
        env["SKILL_SIGNING_PUBLIC_KEYS"] = signing_public_keys
    env.update(extra or {})
    return env


def start_agent_machine(data_dir: Path, *, gateway_token: str, runtime: str = "offline", port: int | None = None,
                        ready_timeout: float = 120.0, log_path: Path | None = None,
                        **env_kwargs: object) -> LocalProcess:
    """Runs one agent machine (entrypoint.sh → bridge [+ OpenClaw]) and waits for the bridge's /ready."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = agent_machine_env(data_dir=data_dir, port=port, gateway_token=gateway_token, runtime=runtime,
                            **env_kwargs)  # type: ignore[arg-type]
    log_path = log_path or data_dir.parent / (data_dir.name + "-machine.log")
    local = LocalProcess(_spawn(agent_machine_command(), env, PROJECT_ROOT, log_path),
                         f"http://127.0.0.1:{port}", log_path, gateway_token, data_dir)
    _wait_ready(local, "/ready", ready_timeout, {"Authorization": f"Bearer {gateway_token}"})
    return local
