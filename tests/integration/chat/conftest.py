"""Chat on the real local stack: the Fly emulator running real agent machines (the bridge, offline
runtime at a fast fixed pace) and the SSE gateway as its own app, the API served over real HTTP, and
lifecycle jobs drained in-process so a hire reaches `running`.

    chat_stack     session: emulator + gateway + API server + settings pointed at them
    hire_running   factory: hire an agent for a user and wait until it is running → instance id
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.config import overridden
from tests.support.harness import CANARIES, RECORDER, HttpClient

TOKEN_INTERVAL_MS = "4"


@dataclass
class ChatStack:
    base_url: str
    fly: Any
    env: dict[str, str]

    def http(self) -> HttpClient:
        return HttpClient(self.base_url)


def start_chat_stack(tmp: Path, *, runtime: str = "offline", openclaw: Any = None,
                     machine_env: dict[str, str] | None = None) -> tuple[ChatStack, Any]:
    from devstack.chat_stack import start_local_chat

    env_machines = {"OFFLINE_TOKEN_INTERVAL_MS": TOKEN_INTERVAL_MS, "BRIDGE_HEARTBEAT_S": "1", **(machine_env or {})}
    local = start_local_chat(tmp, fly_token=CANARIES["FLY_API_TOKEN"], runtime=runtime, openclaw=openclaw,
                             machine_env=env_machines, grace_s=5)
    RECORDER.secret(local.env["STREAM_TOKEN_PRIVATE_KEY"])
    return ChatStack(base_url=local.base_url, fly=local.fly, env=local.env), local.stop


@pytest.fixture(scope="session")
def chat_stack(database: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatStack]:
    stack, stop = start_chat_stack(tmp_path_factory.mktemp("chat"))
    try:
        with overridden(stack.env):
            yield stack
    finally:
        stop()


def drain_lifecycle(db: Any, timeout: float = 90.0) -> None:
    """Runs lifecycle jobs in this process until none is waiting; gateway tokens join the leak check."""
    from devstack.chat_stack import drain_jobs

    try:
        drain_jobs(db, ["lifecycle"], timeout=timeout)
    finally:
        with db.service() as tx:
            for r in tx.sql("select decrypted_secret from vault.decrypted_secrets"):
                RECORDER.secret(r["decrypted_secret"])


@pytest.fixture
def hire_running(chat_stack: ChatStack, db: Any, seeded: None) -> Any:
    def hire(user: Any, slug: str = "inbox-zero") -> str:
        with chat_stack.http() as http:
            resp = http.post("/api/instances", json={"agent": slug}, headers=user.headers)
            assert resp.status_code in (200, 202), resp.text
            instance_id = resp.json()["id"]
        drain_lifecycle(db)
        with chat_stack.http() as http:
            inst = http.get(f"/api/instances/{instance_id}", headers=user.headers).json()
        assert inst["status"] == "running", inst
        return instance_id

    return hire
