"""Fixtures for lifecycle tests: local Fly emulators, settings pointed at them, and a job drain.

    fly_process      session emulator running each machine as a process (tests/support/lifecycle_machine.py: the
                     bridge's token and /health /ready contract, steerable through files in its volume)
    fly_simulated    session emulator in simulated mode (no processes; for the faulted hires)
    lifecycle        function fixture: settings pointed at fly_process; gives a `Lifecycle` helper
    lifecycle_sim    the same over fly_simulated

`Lifecycle.drain()` runs the `lifecycle` queue in this process until no job of it is left (periodic
tasks are not deferred by it, so a test decides when sweeps run); every gateway token made meanwhile
joins the secret-leak check.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devstack.emulators.fly import FlyEmulator
from tests.support import polling
from tests.support.harness import CANARIES, RECORDER

MACHINE = Path(__file__).resolve().parents[2] / "support" / "lifecycle_machine.py"
FLY_TOKEN = CANARIES["FLY_API_TOKEN"]
TERMINAL = ("running", "error")

# Short timeouts and backoffs: the emulator answers in milliseconds.
TEST_SETTINGS = {
    "FLY_REGION": "iad",
    "FLY_FALLBACK_REGIONS": "ord,ewr,sjc",
    "FLY_ORG": "personal",
    "LIFECYCLE_START_TIMEOUT_S": "15",
    "LIFECYCLE_READY_TIMEOUT_S": "15",
    "LIFECYCLE_RETRY_BASE_S": "0.05",
    "HEALTH_PROBE_TIMEOUT_S": "3",
    "AGENT_IMAGE": "registry.fly.io/openagents-agent:test",
}


def fly_env(fly: FlyEmulator, **extra: str) -> dict[str, str]:
    return {**TEST_SETTINGS, "FLY_API_BASE": fly.url, "FLY_PROXY_BASE": fly.proxy_url, "FLY_API_TOKEN": FLY_TOKEN,
            **extra}


def settings_env(values: dict[str, str]) -> Any:
    """Set environment variables for the block and re-read settings on the way in and out."""
    from shared.config import overridden

    return overridden(values)


@pytest.fixture(scope="session")
def fly_process() -> Iterator[FlyEmulator]:
    with FlyEmulator(mode="process", machine_command=[sys.executable, "-u", str(MACHINE)], token=FLY_TOKEN,
                     seed=7, autostart_timeout_s=10) as fly:
        yield fly


@pytest.fixture(scope="session")
def fly_simulated() -> Iterator[FlyEmulator]:
    with FlyEmulator(mode="simulated", token=FLY_TOKEN, seed=11) as fly:
        yield fly


def pending_jobs(db: Any, instance_ids: list[str] | None = None) -> list[dict[str, Any]]:
    with db.service() as tx:
        rows = tx.sql("select id, task_name, status::text as status, scheduled_at, lock from procrastinate.procrastinate_jobs"
                      " where queue_name = 'lifecycle' and status in ('todo', 'doing')").fetchall()
    if instance_ids is not None:
        locks = {f"instance:{i}" for i in instance_ids}
        rows = [r for r in rows if r["lock"] in locks]
    return rows


def register_tokens(db: Any) -> None:
    """Every gateway token in Vault joins the canary set: none may appear in a response or a log."""
    with db.service() as tx:
        for r in tx.sql("select decrypted_secret from vault.decrypted_secrets where name like 'instance-gateway:%%'"):
            RECORDER.secret(r["decrypted_secret"])


@dataclass
class Lifecycle:
    fly: FlyEmulator
    db: Any
    client: Any

    def drain(self, *, timeout: float = 60.0, concurrency: int = 4, instance_ids: list[str] | None = None) -> None:
        """Run lifecycle jobs until none is left (waiting out retry backoffs); fails after `timeout`."""
        from jobs.app import app

        deadline = time.monotonic() + timeout
        app.perform_import_paths()  # every task module registers its periodic tasks before we set them aside
        periodic = dict(app.periodic_registry.periodic_tasks)
        app.periodic_registry.periodic_tasks.clear()
        try:
            while True:
                app.run_worker(wait=False, install_signal_handlers=False, queues=["lifecycle"],
                               concurrency=concurrency, listen_notify=False)
                left = pending_jobs(self.db, instance_ids)
                if not left:
                    return
                assert time.monotonic() < deadline, f"lifecycle jobs still pending: {left}"
                time.sleep(0.05)
        finally:
            app.periodic_registry.periodic_tasks.update(periodic)
            register_tokens(self.db)

    def hire(self, user: Any, slug: str = "inbox-zero", expect: int = 202) -> dict[str, Any]:
        resp = self.client.post("/api/instances", json_body={"agent": slug}, token=user.token)
        assert resp.status_code == expect, resp.get_data(as_text=True)
        return resp.get_json()

    def row(self, instance_id: str) -> dict[str, Any]:
        with self.db.service() as tx:
            return tx.sql("select *, status::text as status, provision_stage::text as provision_stage"
                          " from agent_instances where id = %(id)s", {"id": instance_id}).fetchone()

    def action(self, user: Any, instance_id: str, action: str, expect: int = 202) -> Any:
        if action == "destroy":
            resp = self.client.delete(f"/api/instances/{instance_id}", token=user.token)
        else:
            resp = self.client.post(f"/api/instances/{instance_id}/{action}", token=user.token)
        assert resp.status_code == expect, (action, resp.status_code, resp.get_data(as_text=True))
        return resp.get_json()

    def machine_state(self, machine_id: str) -> str:
        return self.fly.call(lambda s: s.machines[machine_id].state if machine_id in s.machines else "gone")

    def volume_dir(self, volume_id: str) -> Path:
        return self.fly.data_dir / "volumes" / volume_id

    def fly_resources(self, instance_id: str) -> dict[str, Any]:
        """What the emulator holds for one instance's app: live machines and volumes."""
        from shared.lifecycle.names import app_name

        name = app_name(instance_id)

        def look(s: Any) -> dict[str, Any]:
            app = s.apps.get(name)
            if app is None:
                return {"app": False, "machines": [], "volumes": []}
            return {"app": True, "machines": [m.id for m in app.live_machines()],
                    "volumes": list(app.volumes), "network": app.network}

        return self.fly.call(look)


@contextmanager
def _lifecycle(fly: FlyEmulator, db: Any, app: Any) -> Iterator[Lifecycle]:
    from tests.support.harness import ApiClient

    fly.clear_faults()
    with settings_env(fly_env(fly)):
        yield Lifecycle(fly, db, ApiClient(app))
    fly.clear_faults()


@pytest.fixture
def lifecycle(fly_process: FlyEmulator, db: Any, app: Any, seeded: None) -> Iterator[Lifecycle]:
    with _lifecycle(fly_process, db, app) as env:
        yield env


@pytest.fixture
def lifecycle_sim(fly_simulated: FlyEmulator, db: Any, app: Any, seeded: None) -> Iterator[Lifecycle]:
    with _lifecycle(fly_simulated, db, app) as env:
        yield env


def provisioned(env: Lifecycle, user: Any, slug: str = "inbox-zero") -> tuple[str, dict[str, Any]]:
    """Hire and provision; (instance id, row)."""
    iid = env.hire(user, slug)["id"]
    env.drain(instance_ids=[iid])
    row = env.row(iid)
    assert row["status"] == "running", row
    return iid, row


def wait_for(predicate: Any, timeout: float = 20.0, what: str = "condition") -> Any:
    return polling.wait_for(predicate, timeout, every=0.05, what=what)


class WorkerProcess:
    """A real `openagents worker` in its own process group (so it can be SIGKILLed with its children)."""

    def __init__(self, log_path: Path, *, queues: tuple[str, ...] = ("lifecycle",), concurrency: int = 2) -> None:
        import subprocess

        env = dict(os.environ)
        env.update({"WORKER_HEARTBEAT_S": "0.5", "WORKER_STALLED_AFTER_S": "1.5", "LOG_LEVEL": "INFO"})
        cmd = [sys.executable, "-m", "cli.main", "worker", "--concurrency", str(concurrency)]
        for q in queues:
            cmd += ["--queue", q]
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                     cwd=str(Path(__file__).resolve().parents[3]))

    def kill(self) -> None:
        import signal

        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except Exception:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")
