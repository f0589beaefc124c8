"""The emulator with a `state_dir` (what `make dev` runs): a new emulator on the same folder comes back
like a rebooted host; a killed one leaves no machine process behind, and its successor takes over."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from devstack.emulators.fly import FlyEmulator
from devstack.emulators.fly.persist import StateDirBusy
from devstack.emulators.fly.spec_check import SpecCheckingTransport, find_spec, load_spec
from devstack.guardian import start_time
from shared.fly import FlyClient, MachineConfig
from tests.support.polling import wait_for

_until = functools.partial(wait_for, timeout=10.0, every=0.02)

TOKEN = "persist-token"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _config(volume: str | None = None, **fields: object) -> MachineConfig:
    config: dict[str, object] = {"image": "img:test", "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
                                 "env": {"NOTES": "/data/notes.txt"}, "metadata": {"who": "test"}, **fields}
    if volume:
        config["mounts"] = [{"volume": volume, "path": "/data"}]
    return MachineConfig.model_validate(config)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def _pid(fly: FlyEmulator, machine_id: str) -> int | None:
    record = fly.call(lambda s: s.runner.process_record(s.machines[machine_id]))
    return record["pgid"] if record else None


def _env(proxy_url: str, app: str, machine_id: str) -> dict[str, str]:
    r = httpx.get(f"{proxy_url}/_app/{app}/env", headers={"fly-force-instance-id": machine_id}, timeout=15)
    r.raise_for_status()
    return r.json()


@pytest.fixture(scope="module")
def transport() -> SpecCheckingTransport:
    return SpecCheckingTransport(load_spec(find_spec()))


def test_a_new_emulator_on_the_folder_comes_back_like_a_rebooted_host(tmp_path: Path, transport: SpecCheckingTransport) -> None:
    app = f"keep-{uuid.uuid4().hex[:8]}"
    with FlyEmulator(mode="process", token=TOKEN, state_dir=tmp_path) as fly, fly.client(transport=transport) as client:
        client.create_app(app)
        volume = client.create_volume(app, "data", "iad", 1)
        kept = client.create_machine(app, "agent", "iad", _config(volume.id))
        asleep = client.create_machine(app, "asleep", "iad", _config())
        halted = client.create_machine(app, "halted", "iad", _config())
        for m in (kept, asleep, halted):
            client.wait(app, m.id, "started", 10)
        client.suspend(app, asleep.id)
        client.stop(app, halted.id)
        client.wait(app, asleep.id, "suspended", 10)
        client.wait(app, halted.id, "stopped", 10)
        client.update_metadata(app, kept.id, {"instance": "i-1"})
        notes = Path(_env(fly.proxy_url, app, kept.id)["NOTES"])  # the volume, as the machine sees it
        notes.write_text("written yesterday")
        before = {m.id: m for m in client.list_machines(app)}
        pids = [_pid(fly, m.id) for m in (kept, asleep)]
        assert all(pids)
    assert not any(_running(p) for p in pids if p)  # a clean stop takes the processes along
    assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600  # machine env holds tokens

    with FlyEmulator(mode="process", token=TOKEN, state_dir=tmp_path) as fly, fly.client(transport=transport) as client:
        assert [a.name for a in client.list_apps()] == [app]
        assert [v.id for v in client.list_volumes(app)] == [volume.id]
        assert client.get_volume(app, volume.id).attached_machine_id == kept.id
        client.wait(app, kept.id, "started", 10)
        back = client.get_machine(app, kept.id)
        machines = {m.id: m for m in client.list_machines(app)}
        assert machines.keys() == before.keys()
        assert machines[asleep.id].state == "stopped"  # the reboot lost its memory snapshot
        assert machines[halted.id].state == "stopped"
        assert back.instance_id == before[kept.id].instance_id and back.private_ip == before[kept.id].private_ip
        assert client.get_machine(app, kept.id).config.metadata == {"who": "test", "instance": "i-1"}
        assert client.get_machine(app, kept.id).events[0].source == "flyd"  # booted by the host
        assert _pid(fly, kept.id) not in pids  # a new process
        assert Path(_env(fly.proxy_url, app, kept.id)["NOTES"]).read_text() == "written yesterday"
        # The stopped ones start on demand, as ever (the proxy autostarts them).
        assert _env(fly.proxy_url, app, asleep.id)["FLY_MACHINE_ID"] == asleep.id
        fresh = client.create_machine(app, "fresh", "iad", _config())
        assert fresh.private_ip not in {m.private_ip for m in machines.values()}
        client.wait(app, fresh.id, "started", 10)
        client.stop(app, fresh.id)
        client.wait(app, fresh.id, "stopped", 10)
        client.delete_machine(app, fresh.id)
    assert transport.violations == [], "\n".join(transport.violations)


def test_one_folder_one_emulator(tmp_path: Path) -> None:
    with FlyEmulator(mode="simulated", state_dir=tmp_path):
        with pytest.raises(StateDirBusy):
            FlyEmulator(mode="simulated", state_dir=tmp_path).start()
    with FlyEmulator(mode="simulated", state_dir=tmp_path) as again:  # free once the first stopped
        assert again.counts()["apps"] == 0


def test_a_killed_emulator_leaves_no_machine_running_and_its_successor_takes_over(tmp_path: Path) -> None:
    """SIGKILL gives the emulator no chance to stop anything: the guardian and the parent-death signal
    do it (suspended machines included); the next emulator on the folder boots what was started."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack.emulators.fly", "--port", "0", "--token", TOKEN, "--state-dir", str(tmp_path)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        with FlyClient(info["api"], TOKEN, "personal") as client:
            client.create_app("crashy")
            running = client.create_machine("crashy", "running", "iad", _config())
            frozen = client.create_machine("crashy", "frozen", "iad", _config())
            for m in (running, frozen):
                client.wait("crashy", m.id, "started", 10)
            client.suspend("crashy", frozen.id)
            client.wait("crashy", frozen.id, "suspended", 10)
        saved = _until(lambda: (s := json.loads((tmp_path / "state.json").read_text()))
                       and all(m["process"] for m in s["apps"][0]["machines"]) and s)
        pids = [m["process"]["pgid"] for m in saved["apps"][0]["machines"]]
        assert all(_running(p) for p in pids)
        proc.kill()
        proc.wait(10)
        _until(lambda: not any(_running(p) for p in pids), timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()

    with FlyEmulator(mode="process", token=TOKEN, state_dir=tmp_path) as fly, fly.client() as client:
        client.wait("crashy", running.id, "started", 10)
        assert client.get_machine("crashy", frozen.id).state == "stopped"
        assert _env(fly.proxy_url, "crashy", running.id)["FLY_MACHINE_ID"] == running.id


def test_processes_a_crashed_emulator_recorded_are_killed_on_the_next_start(tmp_path: Path) -> None:
    """The second line behind the guardian: pids recorded in state.json die before machines boot,
    but only if they are still the processes recorded (a pid may have been reused since)."""
    with FlyEmulator(mode="simulated", state_dir=tmp_path) as fly, fly.client() as client:
        client.create_app("stale")
        ids = [client.create_machine("stale", f"m{i}", "iad", _config()).id for i in range(2)]
    ours = subprocess.Popen(["sleep", "300"], start_new_session=True)
    someone_else = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        ours_started, other_started = start_time(ours.pid), start_time(someone_else.pid)
        assert ours_started is not None and other_started is not None
        state = json.loads((tmp_path / "state.json").read_text())
        records = [{"pgid": ours.pid, "started": ours_started}, {"pgid": someone_else.pid, "started": other_started + 1}]
        for m, record in zip(state["apps"][0]["machines"], records, strict=True):
            m["process"] = record
        (tmp_path / "state.json").write_text(json.dumps(state))
        with FlyEmulator(mode="simulated", state_dir=tmp_path) as fly:
            assert ours.wait(5) == -signal.SIGKILL
            assert someone_else.poll() is None
            assert fly.counts()["machines"] == {"started": 2} and len(ids) == 2
    finally:
        for p in (ours, someone_else):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)


def test_an_unreadable_state_file_is_kept_aside(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    with FlyEmulator(mode="simulated", state_dir=tmp_path) as fly:
        assert fly.counts()["apps"] == 0
    assert [p.name.startswith("state.json.unreadable-") for p in tmp_path.iterdir() if p.name.startswith("state.json.")] == [True]
