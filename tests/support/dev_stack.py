"""`openagents dev` as a process, the way a user runs it: start, wait for health, stop (SIGTERM, as
Ctrl-C would) or kill (SIGKILL, no cleanup at all); its output joins the session's leak check."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping

import httpx

from tests.support.harness import RECORDER


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children of children too), e.g. before killing it: once it
    is gone they are re-parented and cannot be told apart any more."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != b"Z":
            children.setdefault(int(fields[1]), []).append(int(name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


class DevStack:
    def __init__(self, env: Mapping[str, str], port: int) -> None:
        self.env = dict(env)
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[str] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="oa-e2e-", suffix=".log", delete=False)  # noqa: SIM115

    def start(self, timeout: float = 90.0) -> str:
        self.proc = subprocess.Popen([sys.executable, "-m", "cli.main", "dev"], env=self.env,
                                     stdout=self._log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base}/api/health", timeout=1).status_code == 200:
                    return self.base
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"openagents dev did not come up:\n{self.output()}")
            time.sleep(0.2)

    def stop(self, timeout: float = 30.0) -> float:
        """SIGTERM (what Ctrl-C does), then wait; the seconds it took to stop everything."""
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self.proc = None
        return time.monotonic() - t0

    def kill(self) -> set[int]:
        """SIGKILL: no cleanup of its own. Returns the processes it had started (to check they go)."""
        assert self.proc is not None
        started = descendants(self.proc.pid)
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        return started

    def output(self) -> str:
        with open(self._log.name) as fh:
            return fh.read()

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.stop()
            except subprocess.TimeoutExpired:
                pass
        for line in self.output().splitlines():
            RECORDER.log(line)
        self._log.close()
        os.unlink(self._log.name)
