"""Driving one instance's Fly machine: its config, and start/stop/suspend with waiting.

Fly answers an action at once and moves the machine through transient states; these helpers wait for
the persistent state (in `wait` calls of at most 60 s, Fly's limit) until a deadline. A 412 on an
action means "not from this state": the helpers re-read the state and decide, as CONTRACTS A.2 advises.
"""

from __future__ import annotations

import json
import time

from shared.fly import FlyClient, MachineConfig, build_agent_machine_config
from shared.fly.config import INSTANCE_METADATA_KEY
from shared.fly.errors import FlyAPIError, FlyNotFound, FlyPreconditionFailed, FlyTimeout
from shared.lifecycle.config import LifecycleConfig
from shared.lifecycle.errors import MachineNotReady
from shared.lifecycle.probe import wait_ready
from shared.llm import tokens as llm_tokens

BRIDGE_PORT = 8080
_GONE = ("destroyed", "destroying")
_AT_REST = ("stopped", "created", "failed", "destroyed")


def machine_env(cfg: LifecycleConfig, instance_id: str, token: str) -> dict[str, str]:
    env = {
        "GATEWAY_TOKEN": token,
        "OPENAGENTS_AGENT_RUNTIME": cfg.runtime,
        "BRIDGE_DATA_DIR": "/data",
        "OPENAGENTS_INSTANCE_ID": instance_id,
    }
    keys = signing_public_keys(cfg)
    if keys:
        env["SKILL_SIGNING_PUBLIC_KEYS"] = keys
    # Models through the platform's LLM proxy with the instance's own proxy token: never a provider key.
    env.update(llm_tokens.machine_env(instance_id))
    return env


def signing_public_keys(cfg: LifecycleConfig) -> str | None:
    """The machine's SKILL_SIGNING_PUBLIC_KEYS: every key the platform registered in `signing_keys`
    (active and retired: skills signed before a rotation keep verifying), plus any the setting lists."""
    from shared.data import get_db
    from shared.platform.signing import public_keys_json

    keys: dict[str, str] = {}
    if cfg.signing_public_keys:
        try:
            listed = json.loads(cfg.signing_public_keys)
        except ValueError:
            listed = None
        if isinstance(listed, dict):
            keys.update({str(k): str(v) for k, v in listed.items()})
    with get_db().service() as tx:
        keys.update(json.loads(public_keys_json(tx)))
    # The bridge refuses a key list with one bad entry (and every skill with it): pass only real keys.
    keys = {k: v for k, v in keys.items() if _raw_ed25519(v)}
    return json.dumps(keys, separators=(",", ":"), sort_keys=True) if keys else None


def _raw_ed25519(encoded: str) -> bool:
    import base64
    import binascii

    try:
        return len(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))) == 32
    except (binascii.Error, ValueError):
        return False


def machine_memory(memory_mb: int) -> int:
    return max(512, -(-int(memory_mb) // 256) * 256)  # Fly wants multiples of 256 MB


def machine_config(cfg: LifecycleConfig, instance_id: str, token: str, volume_id: str, memory_mb: int,
                   *, metadata: dict[str, str] | None = None) -> MachineConfig:
    """`instance_id` names the owner in the env and in `openagents_instance` metadata (a warm-pool
    unit passes `pool-<unit id>` until a hire claims it); `metadata` adds keys."""
    return build_agent_machine_config(cfg.image, machine_env(cfg, instance_id, token), volume_id,
                                      machine_memory(memory_mb), BRIDGE_PORT,
                                      metadata={**(metadata or {}), INSTANCE_METADATA_KEY: instance_id})


def state_of(fly: FlyClient, app: str, machine_id: str) -> str:
    """The machine's state, `destroyed` if Fly no longer knows it."""
    try:
        return fly.get_machine(app, machine_id).state or "unknown"
    except FlyNotFound:
        return "destroyed"


def _wait(fly: FlyClient, app: str, machine_id: str, state: str, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return
    try:
        fly.wait(app, machine_id, state, timeout_s=min(remaining, 60))
    except FlyTimeout:
        pass  # the caller re-reads the state and decides
    except FlyNotFound:
        pass


def wait_settled(fly: FlyClient, app: str, machine_id: str, deadline: float) -> str:
    """Wait out a transient state (stopping, updating, …); the persistent state it ends in."""
    _wait(fly, app, machine_id, "settled", deadline)
    return state_of(fly, app, machine_id)


def ensure_started(fly: FlyClient, app: str, machine_id: str, deadline: float) -> None:
    starts = 0
    while True:
        state = state_of(fly, app, machine_id)
        if state == "started":
            return
        if state in _GONE:
            raise MachineNotReady(f"machine {machine_id} was destroyed")
        if state in ("stopped", "suspended", "created", "failed"):
            if starts >= 3:
                raise MachineNotReady(f"the machine stays {state} after {starts} starts")
            try:
                fly.start(app, machine_id)
            except FlyPreconditionFailed:
                pass  # it moved on by itself meanwhile
            starts += 1
        if time.monotonic() >= deadline:
            raise MachineNotReady(f"the machine is still {state} after the start timeout")
        # Waiting for `started` from stopping/suspending/updating would only time out: let those settle.
        settling = state not in ("starting", "restarting", "stopped", "suspended", "created", "failed")
        _wait(fly, app, machine_id, "settled" if settling else "started", deadline)


def start_ready(fly: FlyClient, cfg: LifecycleConfig, app: str, machine_id: str, token: str | None,
                deadline_s: float | None = None) -> None:
    """Start the machine (if needed), wait for `started`, then for the bridge's `/ready`."""
    started_by = time.monotonic() + (deadline_s or cfg.start_timeout_s)
    ensure_started(fly, app, machine_id, started_by)
    result = wait_ready(cfg, app, machine_id, token or "", time.monotonic() + cfg.ready_timeout_s)
    if not result.ok:
        raise MachineNotReady(f"the agent did not become ready (last answer: {result.status or result.detail})")


def stop_and_wait(fly: FlyClient, app: str, machine_id: str, deadline: float) -> None:
    for _ in range(3):
        state = state_of(fly, app, machine_id)
        if state in _AT_REST:
            return
        try:
            fly.stop(app, machine_id)
        except FlyNotFound:
            return
        except FlyPreconditionFailed:
            pass
        _wait(fly, app, machine_id, "stopped", deadline)
        if time.monotonic() >= deadline:
            break
    state = state_of(fly, app, machine_id)
    if state not in _AT_REST:
        raise MachineNotReady(f"the machine is still {state} after stopping")


def suspend_and_wait(fly: FlyClient, app: str, machine_id: str, deadline: float) -> str:
    """Suspend a started machine; returns the state it ends in (`suspended`, or `stopped` if it
    was not running to begin with)."""
    state = state_of(fly, app, machine_id)
    if state in ("suspended", "stopped", "created", "failed"):
        return "stopped" if state != "suspended" else state
    try:
        fly.suspend(app, machine_id)
    except FlyPreconditionFailed:
        pass
    _wait(fly, app, machine_id, "suspended", deadline)
    state = state_of(fly, app, machine_id)
    if state not in ("suspended", "stopped"):
        raise MachineNotReady(f"the machine is {state}, not suspended")
    return state


def restart_and_wait(fly: FlyClient, cfg: LifecycleConfig, app: str, machine_id: str, token: str | None) -> None:
    if state_of(fly, app, machine_id) == "started":
        try:
            fly.restart(app, machine_id)
        except FlyPreconditionFailed:
            pass
    start_ready(fly, cfg, app, machine_id, token)


def delete_everything(fly: FlyClient, app: str, *, snapshot: bool, deadline: float) -> None:
    """Stop and delete the app's machines, (snapshot and) delete its volumes, delete the app.
    Every step tolerates what an earlier, interrupted run already did."""
    try:
        machines = [m for m in fly.list_machines(app) if (m.state or "") not in _GONE]
    except FlyNotFound:
        return
    for m in machines:
        try:
            stop_and_wait(fly, app, m.id, min(deadline, time.monotonic() + 30))
        except (MachineNotReady, FlyAPIError):
            pass  # a forced delete below takes it down anyway
        fly.delete_machine(app, m.id, force=True, missing_ok=True)
    for m in machines:
        _wait(fly, app, m.id, "destroyed", min(deadline, time.monotonic() + 30))
    try:
        volumes = [v for v in fly.list_volumes(app) if (v.state or "") not in ("destroyed", "destroying")]
    except FlyNotFound:
        volumes = []
    for v in volumes:
        if snapshot:
            try:
                fly.create_snapshot(app, v.id)
            except FlyNotFound:
                continue
        fly.delete_volume(app, v.id, missing_ok=True)
    fly.delete_app(app, missing_ok=True)
