"""The chat path on one machine, for tests and benchmarks: the Fly emulator with real agent
machines and the SSE gateway app, the API served over real HTTP, settings pointed at them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class LocalChat:
    base_url: str
    fly: Any
    env: dict[str, str]
    stop: Callable[[], None]
    api_pid: int | None = None  # the API's own process, when it has one (`api_process_env`)


def start_local_chat(data_dir: Path, *, fly_token: str, runtime: str = "offline", openclaw: Any = None,
                     machine_env: dict[str, str] | None = None, grace_s: float = 10.0,
                     api_process_env: dict[str, str] | None = None) -> LocalChat:
    """Starts everything; the caller applies `env` (then `reset_settings()`) before using the API.
    With `api_process_env` (the environment for it, e.g. `os.environ` + DATABASE_URL) the API runs
    in a process of its own instead of a thread, as serverless functions do."""
    from devstack.fly_dev import ensure_sse_gateway, start_fly
    from devstack.postgres import free_port
    from devstack.server import make_api_server
    from shared.streaming.tokens import new_keypair

    priv, pub = new_keypair()
    fly, fly_settings = start_fly(data_dir=data_dir / "fly", token=fly_token, runtime=runtime, openclaw=openclaw,
                                  machine_env=machine_env, autostart_timeout_s=60)
    ensure_sse_gateway(fly.client(), pub)
    port = free_port()
    env = {**fly_settings, "STREAM_TOKEN_PRIVATE_KEY": priv, "STREAM_TOKEN_PUBLIC_KEY": pub,
           "AGENT_IMAGE": "registry.fly.io/openagents-agent:local", "FLY_REGION": "iad",
           "LIFECYCLE_START_TIMEOUT_S": "60", "LIFECYCLE_READY_TIMEOUT_S": "90", "LIFECYCLE_RETRY_BASE_S": "0.05",
           "CHAT_RESUME_GRACE_S": str(grace_s), "OPENAGENTS_AGENT_RUNTIME": runtime,
           # Machines reach models through this API's LLM proxy (its upstream is the caller's to set).
           "LLM_PROXY_URL": f"http://127.0.0.1:{port}/llm"}
    api_pid: int | None = None
    if api_process_env is not None:
        from devstack.serve import spawn

        try:
            proc, _ = spawn({**api_process_env, **env, "LOG_LEVEL": "WARNING"}, port)
        except RuntimeError:
            fly.stop()
            raise
        api_pid = proc.pid

        def stop() -> None:
            proc.terminate()
            proc.wait(timeout=10)
            fly.stop()
    else:
        server = make_api_server(port)
        threading.Thread(target=server.serve_forever, daemon=True, name="api").start()

        def stop() -> None:
            server.shutdown()
            fly.stop()

    return LocalChat(base_url=f"http://127.0.0.1:{port}", fly=fly, env=env, stop=stop, api_pid=api_pid)


def drain_jobs(db: Any, queues: list[str], *, timeout: float = 90.0) -> None:
    """Runs jobs of these queues in this process until none is waiting (periodic tasks set aside)."""
    from jobs.app import app

    app.perform_import_paths()
    periodic = dict(app.periodic_registry.periodic_tasks)
    app.periodic_registry.periodic_tasks.clear()
    deadline = time.monotonic() + timeout
    try:
        while True:
            app.run_worker(wait=False, install_signal_handlers=False, queues=queues, concurrency=4,
                           listen_notify=False)
            with db.service() as tx:
                left = tx.sql("select count(*) as n from procrastinate.procrastinate_jobs"
                              " where queue_name = any(%(q)s) and status in ('todo', 'doing')",
                              {"q": queues}).fetchone()["n"]
            if not left:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs still pending in {queues}")
            time.sleep(0.05)
    finally:
        app.periodic_registry.periodic_tasks.update(periodic)
