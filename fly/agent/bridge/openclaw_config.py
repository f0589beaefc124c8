"""OpenClaw's config on the machine (`$OPENCLAW_STATE_DIR/openclaw.json`, CONTRACTS §H.2).

`prepare_config(data_dir, env)` runs before the gateway starts (entrypoint.sh → `python -m
fly.agent.bridge prepare`). On first boot it writes the whole file; on later boots it merges the keys
the platform manages into the existing file and leaves everything else (what OpenClaw or an operator
added) alone, so a new LLM base URL or model reaches a machine on its next start.

Managed keys: `gateway.{mode: local, bind: loopback, port, auth.mode: token}` (the token itself comes
from `OPENCLAW_GATEWAY_TOKEN` in the gateway's environment, never from the file),
`gateway.http.endpoints.chatCompletions.enabled`, `agents.defaults.{workspace, skipBootstrap,
heartbeat.every: "0m"}`, `skills.allowBundled` (no bundled skills), `env.vars.OPENCLAW_TRAJECTORY`
("0": no trajectory capture) and,
when an LLM base URL is set, one OpenAI-compatible provider `platform` (`models.mode: replace`) used
as `agents.defaults.model.primary`. The platform provisions `OPENAI_BASE_URL` (its LLM proxy) with the
instance's proxy token as `OPENAI_API_KEY`; that pair wins over `AGENT_LLM_BASE_URL` /
`AGENT_LLM_API_KEY` (a provider reached directly, for local runs without the proxy). The key is
written as a reference (`${OPENAI_API_KEY}` / `${AGENT_LLM_API_KEY}`), so the secret stays in the
environment.

Environment read here (all optional):
    OPENCLAW_GATEWAY_PORT   gateway port on loopback (default 18789)
    OPENAI_BASE_URL         the platform's LLM proxy `…/llm/v1` (ARCHITECTURE §5a, set by provisioning)
    OPENAI_API_KEY          the instance's proxy token
    AGENT_LLM_BASE_URL      else: an OpenAI-compatible base URL reached directly
    AGENT_LLM_API_KEY       its key
    AGENT_LLM_MODEL         model id at that provider (default `default`)
    AGENT_LLM_CONTEXT_WINDOW, AGENT_LLM_MAX_TOKENS

The gateway token: `OPENCLAW_GATEWAY_TOKEN` if set, else one generated on first boot and kept in
`<data>/.openagents/openclaw-token` (0600). It is separate from the instance's bridge token: OpenClaw's
token is full operator access and never leaves the machine.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_GATEWAY_PORT = 18789
PROVIDER_ID = "platform"
# `skills.allowBundled` lists the only bundled skills OpenClaw offers, and an empty list means no filter
# at all (the pinned version's normalizeAllowlist), so the list names one that no bundle has.
NO_BUNDLED_SKILLS = "openagents-no-bundled-skills"
CONFIG_NAME = "openclaw.json"
TOKEN_FILE = Path(".openagents") / "openclaw-token"


def workspace_dir(data_dir: Path) -> Path:
    return data_dir / "workspace"


def managed_config(data_dir: Path, env: Mapping[str, str]) -> dict[str, Any]:
    port = int(env.get("OPENCLAW_GATEWAY_PORT") or DEFAULT_GATEWAY_PORT)
    config: dict[str, Any] = {
        "gateway": {
            "mode": "local",
            "port": port,
            "bind": "loopback",
            "auth": {"mode": "token"},
            "http": {"endpoints": {"chatCompletions": {"enabled": True}}},
        },
        # No recurring heartbeat turn (OpenClaw's default is one every 30 min): each is a model call the
        # hirer pays for without asking, it keeps an idle machine awake, and on a warm-pool unit
        # suspended longer than the cadence it fires on resume, beside the hire's first turn. "0m"
        # turns off only the cadence (the pinned version's docs, gateway/heartbeat.md).
        "agents": {"defaults": {"workspace": str(workspace_dir(data_dir)), "skipBootstrap": True,
                                "heartbeat": {"every": "0m"}}},
        # A platform agent runs its bundle's skills, verified (ARCHITECTURE §5c), and none of the ~20
        # operator skills OpenClaw ships (gateway diagnosis, ClawHub installs, tmux, …): they are not
        # signed, and their listing was a quarter of the system prompt (7.5k characters), built again
        # for every new session. The agent's own skills are workspace skills, which this leaves alone.
        "skills": {"allowBundled": [NO_BUNDLED_SKILLS]},
        # OpenClaw's per-session flight recorder, for `/export-trajectory` support bundles: every turn
        # redacted and stored the prompt and the tool schemas before its model call (~0.1 s of the
        # gateway's CPU per turn, measured), for an export no platform path offers. OpenClaw reads
        # the switch from its environment only; `env.vars` sets it there unless the machine's own
        # environment already does (an operator debugging a machine can set OPENCLAW_TRAJECTORY=1).
        "env": {"vars": {"OPENCLAW_TRAJECTORY": "0"}},
    }
    key_ref = "${OPENAI_API_KEY}"
    base_url = env.get("OPENAI_BASE_URL")
    if not base_url:
        base_url, key_ref = env.get("AGENT_LLM_BASE_URL"), "${AGENT_LLM_API_KEY}"
    if base_url:
        model_id = env.get("AGENT_LLM_MODEL") or "default"
        config["models"] = {
            "mode": "replace",
            "providers": {
                PROVIDER_ID: {
                    "baseUrl": base_url.rstrip("/"),
                    "apiKey": key_ref,
                    "api": "openai-completions",
                    "models": [{
                        "id": model_id,
                        "name": model_id,
                        "reasoning": False,
                        "input": ["text"],
                        "contextWindow": int(env.get("AGENT_LLM_CONTEXT_WINDOW") or 128000),
                        "maxTokens": int(env.get("AGENT_LLM_MAX_TOKENS") or 4096),
                        "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                    }],
                }
            },
        }
        config["agents"]["defaults"]["model"] = {"primary": f"{PROVIDER_ID}/{model_id}"}
    return config


def _merge(base: dict[str, Any], managed: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in managed.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _atomic_write(path: Path, text: str, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def gateway_token(data_dir: Path, env: Mapping[str, str]) -> str:
    """The OpenClaw token: from the environment, else generated once and kept on the volume."""
    if env.get("OPENCLAW_GATEWAY_TOKEN"):
        return env["OPENCLAW_GATEWAY_TOKEN"]
    path = data_dir / TOKEN_FILE
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    _atomic_write(path, token)
    return token


def prepare_config(data_dir: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """Writes (first boot) or updates (later boots) openclaw.json; returns the resulting config."""
    data_dir.mkdir(parents=True, exist_ok=True)
    workspace_dir(data_dir).mkdir(parents=True, exist_ok=True)
    path = data_dir / CONFIG_NAME
    existing: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text())
            existing = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            # Not plain JSON (OpenClaw accepts JSON5): keep it aside rather than guess.
            os.replace(path, path.with_name(CONFIG_NAME + ".unparsed"))
    config = _merge(existing, managed_config(data_dir, env))
    if config != existing:
        _atomic_write(path, json.dumps(config, indent=2) + "\n")
    gateway_token(data_dir, env)
    return config
