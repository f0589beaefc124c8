"""An agent machine (offline runtime) as the local Fly emulator runs it in process mode: the documented
command and host env, the platform's machine config, traffic through the emulator's edge proxy."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.emulators.fly import FlyEmulator
from devstack.openclaw_runtime import agent_machine_command, machine_host_env
from fly.agent.bridge.runtime.offline import offline_answer
from shared.fly.config import build_agent_machine_config
from tests.support.agent_machine import read_sse, real_events, text_of
from tests.support.harness import RECORDER


@pytest.fixture(scope="module")
def fly_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fly-emulator")


@pytest.fixture(scope="module")
def fly(fly_dir: Path) -> Iterator[FlyEmulator]:
    with FlyEmulator(mode="process", machine_command=agent_machine_command(),
                     machine_env=machine_host_env("offline"), data_dir=fly_dir) as emulator:
        yield emulator


def test_emulated_machine_serves_the_bridge(fly: FlyEmulator, fly_dir: Path) -> None:
    token = "gw-" + secrets.token_urlsafe(24)
    RECORDER.secret(token)
    with fly.client() as client:
        app = f"agent-{uuid.uuid4().hex[:8]}"
        client.create_app(app)
        volume = client.create_volume(app, "agent_data", "iad", 1)
        config = build_agent_machine_config(
            "registry.fly.io/openagents-agent:test",
            {"GATEWAY_TOKEN": token, "OFFLINE_TOKEN_INTERVAL_MS": "1"},
            volume.id, metadata={"openagents_instance": str(uuid.uuid4())})
        machine = client.create_machine(app, None, "iad", config)
        client.wait(app, machine.id, "started", 20)
        route = {"fly-force-instance-id": machine.id}
        auth = {"Authorization": f"Bearer {token}", **route}
        with httpx.Client(base_url=fly.proxy_url, timeout=30) as edge:
            deadline = time.monotonic() + 20
            while edge.get("/ready", headers=auth).status_code != 200:
                assert time.monotonic() < deadline, "the bridge never became ready behind the emulator"
                time.sleep(0.1)
            assert edge.get("/ready", headers=route).status_code == 401
            assert edge.put("/v1/files/SOUL.md", headers=auth, content=b"soul").status_code == 200
            body = {"turn_id": "t-emu", "session_key": "s", "message": "through the proxy"}
            with edge.stream("POST", "/v1/turns", json=body, headers=auth) as resp:
                events = real_events(read_sse(resp))
            assert text_of(events) == "".join(offline_answer("through the proxy", 24))
            # Suspend and wake through the proxy: the same process resumes with its files.
            client.suspend(app, machine.id)
            client.wait(app, machine.id, "suspended", 20)
            assert edge.get("/v1/files/SOUL.md", headers=auth).content == b"soul"
        # /data of the machine config is the emulator's volume folder, never the host's /data.
        volume_dirs = list(fly_dir.rglob("workspace/SOUL.md"))
        assert len(volume_dirs) == 1 and volume.id in str(volume_dirs[0])
        client.delete_app(app)
