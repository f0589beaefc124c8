"""Fixtures for agent-machine tests: bridges as real subprocesses, and the real OpenClaw runtime.

    signing_keys       an active and a retired skill-signing key (session)
    start_bridge       factory: start_bridge(data_dir=, token=, env=) → a running offline machine (entrypoint.sh → bridge)
    shared_bridge      one offline machine per module, for tests that do not write its workspace
    openclaw_install   Node 24 + the pinned openclaw, installed once into the cache (session; fails —
                       never skips — when npm or its registry is unreachable)
    fake_llm           the fake OpenAI-compatible LLM (session)
    openclaw_machine   one agent machine with the openclaw runtime, behind its bridge (session: the
                       gateway boots in ~15 s, so every test shares it; use your own session keys)
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent_machine import SigningKeys
from tests.support.harness import RECORDER


@pytest.fixture(scope="session")
def signing_keys() -> SigningKeys:
    return SigningKeys.generate()


def _token() -> str:
    token = "gw-" + secrets.token_urlsafe(24)
    RECORDER.secret(token)
    return token


def _machine_starter(base: Path, keys: SigningKeys, started: list[Any]) -> Callable[..., Any]:
    from devstack.openclaw_runtime import start_agent_machine

    def start(data_dir: Path | None = None, token: str | None = None, env: dict[str, str] | None = None) -> Any:
        data_dir = data_dir or base / f"machine-{uuid.uuid4().hex[:8]}"
        extra = {"BRIDGE_HEARTBEAT_S": "0.2", "OFFLINE_TOKEN_INTERVAL_MS": "2", **(env or {})}
        machine = start_agent_machine(data_dir, gateway_token=token or _token(), runtime="offline",
                                      signing_public_keys=keys.public_json, extra=extra, ready_timeout=30)
        started.append(machine)
        return machine

    return start


@pytest.fixture
def start_bridge(tmp_path: Path, signing_keys: SigningKeys) -> Iterator[Callable[..., Any]]:
    """start_bridge(data_dir=None, token=None, env=None) → a fresh offline machine, stopped after the test."""
    started: list[Any] = []
    yield _machine_starter(tmp_path, signing_keys, started)
    for machine in started:
        machine.stop()


@pytest.fixture(scope="module")
def shared_bridge(tmp_path_factory: pytest.TempPathFactory, signing_keys: SigningKeys) -> Iterator[Any]:
    """One offline machine for a module's tests that leave its workspace alone."""
    started: list[Any] = []
    yield _machine_starter(tmp_path_factory.mktemp("bridge"), signing_keys, started)()
    for machine in started:
        machine.stop()


@pytest.fixture(scope="session")
def openclaw_install() -> Any:
    from devstack.openclaw_runtime import install

    return install()


@pytest.fixture(scope="session")
def fake_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from devstack.fake_llm import FakeLLM

    llm = FakeLLM(record_path=tmp_path_factory.mktemp("fake-llm") / "requests.jsonl").start()
    yield llm
    llm.stop()


@pytest.fixture(scope="session")
def openclaw_machine(openclaw_install: Any, fake_llm: Any, signing_keys: SigningKeys,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from devstack.openclaw_runtime import start_agent_machine

    data_dir = tmp_path_factory.mktemp("openclaw-machine") / "data"
    machine = start_agent_machine(
        data_dir, gateway_token=_token(), runtime="openclaw", openclaw=openclaw_install,
        llm_base_url=fake_llm.base_url, llm_api_key="fake-llm-key", llm_model="fake-model",
        signing_public_keys=signing_keys.public_json, extra={"BRIDGE_HEARTBEAT_S": "1"}, ready_timeout=180)
    yield machine
    machine.stop()
