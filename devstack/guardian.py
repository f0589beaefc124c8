"""Nothing the local stack starts outlives it, even when it dies without its own cleanup.

A process that starts long-lived children (the dev stack: the job worker, Postgres; the Fly
emulator: one process group per machine) registers each with `guardian()`:

    g = guardian()
    g.watch_group("worker", proc.pid)                    # kill this process group if we die
    g.on_orphan("postgres", ["pg_ctl", "-D", d, "stop"])  # or run this
    ...
    g.forget("worker")                                   # stopped it ourselves

The guardian is a small stdlib-only process (this file, run with `python -I`) in a session of its
own, so neither Ctrl-C nor a signal aimed at our process group reaches it. It reads the
registrations from a pipe whose write end only we hold (it is close-on-exec, so no child inherits
it). When the pipe reaches end of file, we are gone: whatever is still registered was left behind by
an unclean exit (SIGKILL, a crash), so it kills and runs it, newest first (the reverse of starting),
and exits. A clean shutdown forgets everything first, and the guardian just exits.

`die_with_parent` (Linux `prctl(PR_SET_PDEATHSIG)`) is the second line for a process's own leader:
the kernel kills it the moment the thread that started it ends, even if the guardian was killed too.
`start_time`/`kill_group` let a successor kill what a crashed predecessor recorded on disk, without
hitting a process that merely reused the pid.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

PR_SET_PDEATHSIG = 1

_libc: ctypes.CDLL | None = None
if sys.platform.startswith("linux"):
    # Loaded here, not in the forked child: a dlopen after fork in a threaded parent can deadlock.
    with contextlib.suppress(OSError):
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child get `sig` when the thread that started it ends (Linux);
    None where the kernel has no such switch."""
    if _libc is None:
        return None
    libc = _libc
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the switch was set
            os._exit(1)

    return preexec


def start_time(pid: int) -> int | None:
    """The kernel's start time of `pid` (clock ticks since boot), or None if it is gone or unknown.
    Together with the pid it names one process: pids are reused, (pid, start time) pairs are not."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; fields after it follow the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 of proc(5)
    except (IndexError, ValueError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pgid: int, started: int | None = None, sig: int = signal.SIGKILL) -> bool:
    """Signal process group `pgid` (SIGKILL by default), unless its leader still runs but is another
    process than the one recorded (`started`, from `start_time`). A dead leader's group id cannot be
    handed out again while members of the group live, so the group is then still ours. True if a
    signal was sent."""
    if started is not None:
        now = start_time(pgid)
        if now is not None and now != started:
            return False
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def group_alive(pgid: int) -> bool:
    """Whether a member of process group `pgid` still runs (zombies, which hold nothing but their
    exit status until their parent reaps them, do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        names = [n for n in os.listdir("/proc") if n.isdigit()]
    except OSError:
        return True
    for name in names:
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":  # state, ppid, pgrp
            return True
    return False


class Guardian:
    """The parent's end: registrations go down the pipe; the guardian acts only if we vanish."""

    def __init__(self) -> None:
        read_end, write_end = os.pipe()  # both close-on-exec: children never hold our end
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", os.path.abspath(__file__), str(os.getpid())],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=None,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            os.close(read_end)
        self._pipe = os.fdopen(write_end, "w", buffering=1)
        self._lock = threading.Lock()
        self._broken = False

    @property
    def pid(self) -> int:
        return self._process.pid

    def _send(self, message: dict[str, object]) -> None:
        with self._lock:
            if self._broken:
                return
            try:
                self._pipe.write(json.dumps(message) + "\n")
            except (BrokenPipeError, OSError, ValueError):
                self._broken = True  # the guardian is gone; die_with_parent and stale sweeps remain

    def watch_group(self, key: str, pgid: int, *, sig: int = signal.SIGKILL, grace_s: float = 0.0) -> None:
        """Kill process group `pgid` if we die with it still registered under `key`: `sig` first,
        then SIGKILL if it is still there after `grace_s` (e.g. SIGINT for a worker to finish a job)."""
        self._send({"op": "add", "key": key, "kill": pgid, "started": start_time(pgid), "sig": int(sig), "grace": grace_s})

    def on_orphan(self, key: str, argv: Sequence[str], timeout_s: float = 60.0) -> None:
        """Run `argv` if we die with it still registered under `key`."""
        self._send({"op": "add", "key": key, "run": list(argv), "timeout": timeout_s})

    def forget(self, key: str) -> None:
        self._send({"op": "forget", "key": key})

    def close(self) -> None:
        """Hand-over for a clean exit: the guardian acts on what is still registered, then exits."""
        with self._lock:
            self._broken = True
            with contextlib.suppress(OSError):
                self._pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=30)


_guardian: Guardian | None = None
_guardian_pid = 0
_guardian_lock = threading.Lock()


def guardian() -> Guardian:
    """This process's guardian, started on first use (a forked child gets its own)."""
    global _guardian, _guardian_pid
    with _guardian_lock:
        if _guardian is None or _guardian_pid != os.getpid():
            _guardian = Guardian()
            _guardian_pid = os.getpid()
        return _guardian


# --- the guardian process ---------------------------------------------------------------------


def _act(entry: dict[str, object]) -> None:
    if "kill" in entry:
        pgid = int(entry["kill"])  # type: ignore[call-overload]
        started = entry.get("started")
        started = started if isinstance(started, int) else None
        sig = entry.get("sig")
        sig = sig if isinstance(sig, int) else signal.SIGKILL
        grace = entry.get("grace")
        grace = float(grace) if isinstance(grace, int | float) else 0.0
        if not kill_group(pgid, started, sig):
            return
        if sig != signal.SIGKILL:
            deadline = time.monotonic() + grace
            while group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
            kill_group(pgid, None)  # the group is still ours: its leader was checked above
        deadline = time.monotonic() + 5
        while group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.02)
    elif isinstance(entry.get("run"), list):
        timeout = entry.get("timeout")
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                [str(a) for a in entry["run"]],  # type: ignore[union-attr]
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=float(timeout) if isinstance(timeout, int | float) else 60.0,
            )


def _serve(parent: int) -> None:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)  # only the pipe's end of file means "act"
    registered: dict[str, dict[str, object]] = {}  # insertion order = order of starting
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        key = str(message.get("key"))
        registered.pop(key, None)  # re-registering moves it to the end
        if message.get("op") == "add":
            registered[key] = message
    if registered:
        print(f"guardian: process {parent} exited without stopping {', '.join(registered)}; cleaning up",
              file=sys.stderr, flush=True)
    for entry in reversed(list(registered.values())):
        _act(entry)


if __name__ == "__main__":
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
