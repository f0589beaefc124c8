"""A private PostgreSQL cluster in a folder: initdb + pg_ctl on 127.0.0.1.

As root (these machines), the server runs as the `postgres` system user, because PostgreSQL refuses
to run as root; the data folder is handed to that user, nothing above it is changed.

`start()` takes back a server of this folder that is still running (a previous `openagents dev`
died without stopping it): found by its `postmaster.pid`, or by its command line if that file is
gone. It is reused when it serves the wanted port, else stopped and started again, instead of the
new start failing on a taken port or a locked folder.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


class PostgresError(RuntimeError):
    pass


def find_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    for c in candidates:
        if os.access(f"{c}/initdb", os.X_OK) and os.access(f"{c}/pg_ctl", os.X_OK):
            return Path(c)
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    raise PostgresError("PostgreSQL server binaries not found: run `make install` (it installs them)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


@dataclass
class LocalPostgres:
    data_dir: Path
    port: int = 54322
    password: str = "postgres"
    fast: bool = False  # fsync off etc.: for throwaway test clusters only
    user: str = "postgres"
    bindir: Path = field(default_factory=find_bindir)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def _as_owner(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            args = ["runuser", "-u", self._os_user(), "--", *args]
        return subprocess.run(args, capture_output=True, text=True, **kw)

    def _os_user(self) -> str:
        try:
            pwd.getpwnam("postgres")
            return "postgres"
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
            return "postgres"

    def _hand_over(self, path: Path) -> None:
        if os.geteuid() == 0:
            pw = pwd.getpwnam(self._os_user())
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def initialized(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def init(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o755)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self._hand_over(self.pgdata)
        pwfile = self.data_dir / ".pgpass-init"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o644)
        try:
            r = self._as_owner([
                str(self.bindir / "initdb"), "-D", str(self.pgdata), "-U", self.user, "--pwfile", str(pwfile),
                "-E", "UTF8", "--no-locale", "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
            ])
        finally:
            pwfile.unlink(missing_ok=True)
        if r.returncode != 0:
            raise PostgresError(f"initdb failed: {r.stderr.strip() or r.stdout.strip()}")

    def running(self) -> bool:
        r = self._as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.pgdata), "status"])
        return r.returncode == 0

    def postmaster(self) -> tuple[int, int | None, bool] | None:
        """(pid, port, listed in postmaster.pid) of a server running on this data folder, if any."""
        lock = self.pgdata / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            lines = lock.read_text().splitlines()
            pid = int(lines[0])
            argv = _cmdline(pid)
            # A pid in a stale lock file may belong to anything by now: trust it only if it is a
            # postgres serving this folder (where the command line cannot be read, if it is alive).
            if (argv is None and _alive(pid)) or (argv is not None and self._serves_here(argv)):
                return pid, int(lines[3]) if len(lines) > 3 and lines[3].strip() else None, True
        for pid in _pids():  # the lock file is gone (e.g. the folder was deleted) but the server is not
            argv = _cmdline(pid)
            if argv is not None and self._serves_here(argv):
                return pid, _port_arg(argv), False
        return None

    def _serves_here(self, argv: list[str]) -> bool:
        if not argv or os.path.basename(argv[0]) != "postgres":
            return False
        wanted = {str(self.pgdata), os.path.realpath(self.pgdata)}
        return any(a == "-D" and i + 1 < len(argv) and argv[i + 1] in wanted for i, a in enumerate(argv))

    def _terminate(self, pid: int, timeout_s: float = 30.0) -> None:
        """Stop the server `pid`: fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL."""
        for sig, wait_s in ((signal.SIGINT, timeout_s), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait_s
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not _alive(pid):
                return
        raise PostgresError(f"could not stop the stale postgres server (pid {pid})")

    def stop_command(self) -> list[str]:
        """The command that stops this cluster's server (what a guardian runs if we die)."""
        args = [str(self.bindir / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"]
        return ["runuser", "-u", self._os_user(), "--", *args] if os.geteuid() == 0 else args

    def start(self) -> None:
        found = self.postmaster()
        if found is not None:
            pid, port, listed = found
            if listed and self.initialized() and port == self.port and port_open(self.port):
                return  # ours, left running by a run that died: take it back
            # On another port, not serving, or without its lock file (pg_ctl could not stop it
            # later): stop it and start afresh.
            self._terminate(pid)
        if not self.initialized():
            self.init()
        if self.running():
            return
        if port_open(self.port):
            raise PostgresError(f"port {self.port} is taken by another process (set OPENAGENTS_PG_PORT)")
        opts = [
            "-c", "listen_addresses=127.0.0.1", "-p", str(self.port), "-c", "unix_socket_directories=",
            "-c", "max_connections=300", "-c", "shared_buffers=256MB",
        ]
        if self.fast:
            opts += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        log = self.pgdata / "server.log"
        r = self._as_owner([
            str(self.bindir / "pg_ctl"), "-D", str(self.pgdata), "-l", str(log), "-w", "-t", "60",
            "-o", " ".join(opts), "start",
        ])
        if r.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise PostgresError(f"postgres did not start: {r.stderr.strip()} {tail}")
        deadline = time.monotonic() + 30
        while not port_open(self.port):
            if time.monotonic() > deadline:
                raise PostgresError("postgres did not open its port")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.initialized() and self.running():
            self._as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"])


def _pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def _cmdline(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a] or None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers signal 0; it serves nothing.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _port_arg(argv: list[str]) -> int | None:
    for i, a in enumerate(argv[:-1]):
        if a == "-p" and argv[i + 1].isdigit():
            return int(argv[i + 1])
    return None
