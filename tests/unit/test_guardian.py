"""The local guardian: what a process registered is cleaned up when it dies uncleanly, and only then."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from devstack.guardian import group_alive, kill_group, start_time
from tests.support.polling import wait_for

_until = functools.partial(wait_for, timeout=10.0, every=0.02)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan is reaped by init in its own time)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def _parent(tmp: Path, body: str) -> subprocess.Popen[str]:
    """A parent that registers things with its guardian, prints the pids, then waits to be killed."""
    script = textwrap.dedent(f"""
        import signal, subprocess, sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from devstack.guardian import die_with_parent, guardian
        g = guardian()
        def child():
            return subprocess.Popen(["sleep", "300"], start_new_session=True)
        {textwrap.indent(textwrap.dedent(body), "        ").strip()}
        print("ready", flush=True)
        time.sleep(300)
    """)
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=tmp)


def _read_pids(proc: subprocess.Popen[str]) -> list[int]:
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert proc.stdout.readline().strip() == "ready"
    return pids


def test_a_killed_parent_leaves_nothing_behind_newest_first(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    proc = _parent(tmp_path, f"""
        a = child()
        # Registered before the groups, so it runs after they are killed.
        check = 's=$(awk "/^State:/ {{print \\$2}}" /proc/$1/status 2>/dev/null); '
        check += 'if [ -z "$s" ] || [ "$s" = Z ]; then echo gone > "$2"; else echo alive > "$2"; fi'
        g.on_orphan("cleanup", ["sh", "-c", check, "sh", str(a.pid), "{marker}"])
        g.watch_group("a", a.pid)
        b = subprocess.Popen(["sleep", "300"], start_new_session=True, preexec_fn=die_with_parent())
        g.watch_group("b", b.pid, sig=signal.SIGTERM, grace_s=1)
        print(a.pid, b.pid, flush=True)
    """)
    a, b = _read_pids(proc)
    assert _running(a) and _running(b)
    proc.kill()
    proc.wait()
    _until(lambda: not _running(a) and not _running(b))
    _until(lambda: marker.exists() and marker.read_text() != "")
    assert marker.read_text().strip() == "gone"  # registered first, run last
    proc.stdout.close()  # type: ignore[union-attr]


def test_forgotten_entries_are_left_alone(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    proc = _parent(tmp_path, f"""
        keep = child()
        g.watch_group("keep", keep.pid)
        g.forget("keep")
        g.on_orphan("cmd", ["touch", "{marker}"])
        g.forget("cmd")
        print(keep.pid, g.pid, flush=True)
    """)
    keep, guardian_pid = _read_pids(proc)
    proc.kill()
    proc.wait()
    _until(lambda: not _running(guardian_pid))  # it saw the end of its pipe and had nothing to do
    try:
        assert _running(keep) and not marker.exists()
    finally:
        os.killpg(keep, signal.SIGKILL)
        proc.stdout.close()  # type: ignore[union-attr]


def test_kill_group_spares_a_reused_pid() -> None:
    sleeper = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        started = start_time(sleeper.pid)
        assert started is not None
        assert not kill_group(sleeper.pid, started + 1)  # recorded for another process: untouched
        assert group_alive(sleeper.pid)
        assert kill_group(sleeper.pid, started)
        assert sleeper.wait(5) == -signal.SIGKILL
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
