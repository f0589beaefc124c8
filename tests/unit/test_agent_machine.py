"""The agent machine's pieces that need no process: OpenClaw config, settings, offline model, paths,
the fake LLM's script, OpenClaw event mapping, and what the image build depends on."""

from __future__ import annotations

import ast
import asyncio
import json
import re
import stat
import sys
import tomllib
from pathlib import Path

import pytest

from devstack import fake_llm
from fly.agent import AGENT_DIR, openclaw_version
from fly.agent.bridge.config import BridgeConfig, ConfigError
from fly.agent.bridge.files import clean_relative_path
from fly.agent.bridge.openclaw_config import NO_BUNDLED_SKILLS, prepare_config
from fly.agent.bridge.problems import BridgeError
from fly.agent.bridge.runtime import TurnRequest
from fly.agent.bridge.runtime.offline import OfflineRuntime, offline_answer
from fly.agent.bridge.runtime.openclaw import tool_event

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "t" * 32


# ---- openclaw.json ------------------------------------------------------------------------------------

def test_first_boot_writes_the_config(tmp_path: Path) -> None:
    env = {"AGENT_LLM_BASE_URL": "http://127.0.0.1:9/llm/v1/", "AGENT_LLM_API_KEY": "sk-secret",
           "AGENT_LLM_MODEL": "gpt-x", "OPENCLAW_GATEWAY_PORT": "18800"}
    config = prepare_config(tmp_path, env)
    on_disk = json.loads((tmp_path / "openclaw.json").read_text())
    assert on_disk == config
    assert config["gateway"] == {"mode": "local", "port": 18800, "bind": "loopback", "auth": {"mode": "token"},
                                 "http": {"endpoints": {"chatCompletions": {"enabled": True}}}}
    provider = config["models"]["providers"]["platform"]
    assert config["models"]["mode"] == "replace"
    assert provider["baseUrl"] == "http://127.0.0.1:9/llm/v1" and provider["api"] == "openai-completions"
    assert provider["apiKey"] == "${AGENT_LLM_API_KEY}" and provider["models"][0]["id"] == "gpt-x"
    assert config["agents"]["defaults"] == {"workspace": str(tmp_path / "workspace"), "skipBootstrap": True,
                                            "heartbeat": {"every": "0m"}, "model": {"primary": "platform/gpt-x"}}
    assert config["skills"] == {"allowBundled": [NO_BUNDLED_SKILLS]}  # a name no skill has: none of them
    assert config["env"] == {"vars": {"OPENCLAW_TRAJECTORY": "0"}}
    assert "sk-secret" not in (tmp_path / "openclaw.json").read_text()
    assert stat.S_IMODE((tmp_path / "openclaw.json").stat().st_mode) == 0o600
    assert (tmp_path / "workspace").is_dir()
    token_file = tmp_path / ".openagents" / "openclaw-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600 and len(token_file.read_text()) >= 32


def test_later_boots_merge_managed_keys_and_keep_the_rest(tmp_path: Path) -> None:
    prepare_config(tmp_path, {"AGENT_LLM_BASE_URL": "http://127.0.0.1:9/v1"})
    token = (tmp_path / ".openagents" / "openclaw-token").read_text()
    config = json.loads((tmp_path / "openclaw.json").read_text())
    config["meta"] = {"lastTouchedVersion": "x"}
    config["gateway"]["reload"] = {"mode": "hybrid"}
    config["gateway"]["bind"] = "lan"  # managed: put back
    (tmp_path / "openclaw.json").write_text(json.dumps(config))
    again = prepare_config(tmp_path, {"AGENT_LLM_BASE_URL": "http://127.0.0.1:10/v1", "OPENCLAW_GATEWAY_PORT": "19000"})
    assert again["meta"] == {"lastTouchedVersion": "x"} and again["gateway"]["reload"] == {"mode": "hybrid"}
    assert again["gateway"]["bind"] == "loopback" and again["gateway"]["port"] == 19000
    assert again["models"]["providers"]["platform"]["baseUrl"] == "http://127.0.0.1:10/v1"
    assert (tmp_path / ".openagents" / "openclaw-token").read_text() == token  # stable across boots


def test_unparsable_config_is_set_aside(tmp_path: Path) -> None:
    (tmp_path / "openclaw.json").write_text("{ json5: 'comments', } // not JSON")
    prepare_config(tmp_path, {"OPENCLAW_GATEWAY_TOKEN": "from-env"})
    assert (tmp_path / "openclaw.json.unparsed").exists()
    assert "models" not in json.loads((tmp_path / "openclaw.json").read_text())  # no LLM configured
    assert not (tmp_path / ".openagents" / "openclaw-token").exists()  # the env token wins


# ---- settings -----------------------------------------------------------------------------------------

def test_bridge_settings_from_env(tmp_path: Path) -> None:
    cfg = BridgeConfig.from_env({"GATEWAY_TOKEN": TOKEN, "BRIDGE_DATA_DIR": str(tmp_path),
                                 "OFFLINE_TOKEN_INTERVAL_MS": "0", "PORT": "9999"})
    assert cfg.offline_token_interval_ms == 0 and cfg.port == 9999 and cfg.runtime == "offline"
    assert cfg.workspace == tmp_path / "workspace" and cfg.heartbeat_s == 15
    assert cfg.openclaw_url == "http://127.0.0.1:18789"
    for bad in ({}, {"GATEWAY_TOKEN": "short"}, {"GATEWAY_TOKEN": TOKEN, "OPENAGENTS_AGENT_RUNTIME": "docker"},
                {"GATEWAY_TOKEN": TOKEN, "OPENCLAW_GATEWAY_URL": "http://10.0.0.5:18789"},
                {"GATEWAY_TOKEN": TOKEN, "OPENCLAW_GATEWAY_URL": "http://example.com"},
                {"GATEWAY_TOKEN": TOKEN, "BRIDGE_HEARTBEAT_S": "soon"},
                {"GATEWAY_TOKEN": TOKEN, "SKILL_SIGNING_PUBLIC_KEYS": '{"k": "short"}'}):
        with pytest.raises(ConfigError):
            BridgeConfig.from_env(bad)
    assert BridgeConfig.from_env({"GATEWAY_TOKEN": TOKEN, "OPENCLAW_GATEWAY_URL": "http://[::1]:1/"}).openclaw_url == "http://[::1]:1"


# ---- offline model ------------------------------------------------------------------------------------

def _run(runtime: OfflineRuntime, message: str) -> list[tuple[str, dict]]:
    async def collect() -> list[tuple[str, dict]]:
        return [ev async for ev in runtime.run_turn(TurnRequest("t1", "s1", message))]

    return asyncio.run(collect())


def test_offline_answers_depend_only_on_the_message() -> None:
    rt = OfflineRuntime(interval_ms=0, tokens=7)
    a = _run(rt, "hello")
    assert a == _run(rt, "hello") and a != _run(rt, "hello!")
    assert [d["text"] for n, d in a if n == "token"] == offline_answer("hello", 7)
    assert "".join(offline_answer("hello", 7)).startswith("Offline ") and offline_answer("hello", 7)[-1].endswith(".")
    assert a[-1] == ("done", {"usage": {"input_tokens": 14, "output_tokens": 7}})
    assert len(offline_answer("x", 100)) == 100  # past one digest


def test_offline_markers() -> None:
    rt = OfflineRuntime(interval_ms=0, tokens=7)
    assert [n for n, _ in _run(rt, "TOKENS=3 please")] == ["token"] * 3 + ["done"]
    failed = _run(rt, "FAILTEST TOKENS=6")
    assert [n for n, _ in failed] == ["token"] * 3 + ["error"] and set(failed[-1][1]) == {"title", "detail", "usage"}
    assert failed[-1][1]["usage"]["output_tokens"] == 3  # what ran before the failure is paid for
    tool = _run(rt, "TOOLTEST TOKENS=1")
    assert [(n, d.get("phase")) for n, d in tool] == [("tool", "start"), ("tool", "result"), ("token", None), ("done", None)]


# ---- paths, events, fake LLM -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a/.", ".env", "a/.git/x",
                                 "a\\b", "a\0b", "x" * 2000])
def test_bad_relative_paths(raw: str) -> None:
    with pytest.raises(BridgeError) as exc:
        clean_relative_path(raw)
    assert exc.value.status == 400


def test_good_relative_paths() -> None:
    assert clean_relative_path("SOUL.md") == "SOUL.md"
    assert clean_relative_path("memory/2026-01-01.md") == "memory/2026-01-01.md"


def test_openclaw_tool_events_map_to_bridge_events() -> None:
    assert tool_event({"phase": "start", "name": "ls", "toolCallId": "c1", "args": {"path": "."}}) == {
        "name": "ls", "phase": "start", "call_id": "c1", "args": {"path": "."}}
    assert tool_event({"phase": "result", "name": "ls", "toolCallId": "c1", "isError": False, "meta": ".",
                       "result": {"content": [{"type": "text", "text": "a\n"}, {"type": "text", "text": "b"}]}}) == {
        "name": "ls", "phase": "result", "call_id": "c1", "is_error": False, "result": "a\nb"}
    assert len(tool_event({"phase": "result", "name": "x", "toolCallId": "c",
                           "result": {"content": [{"type": "text", "text": "y" * 9000}]}})["result"]) == 4000
    assert tool_event({"phase": "update", "name": "x"}) is None


def test_fake_llm_script() -> None:
    user = {"role": "user", "content": "hi"}
    assert fake_llm.plan_reply({"messages": [user]}) == {"text": fake_llm.ANSWER, "slow": False}
    assert fake_llm.plan_reply({"messages": [{"role": "user", "content": "SLOWTEST"}]})["slow"] is True
    tool_turn = [{"role": "user", "content": "do TOOLTEST"}, {"role": "user", "content": [{"type": "text", "text": "ctx"}]}]
    assert "tool_call" in fake_llm.plan_reply({"messages": tool_turn})
    after_tool = [*tool_turn, {"role": "assistant", "content": None, "tool_calls": []},
                  {"role": "tool", "content": "out"}, {"role": "user", "content": "ctx"}]
    assert fake_llm.plan_reply({"messages": after_tool}) == {"text": fake_llm.TOOL_FOLLOWUP}
    later = [*after_tool, {"role": "assistant", "content": "done"}, user]
    assert fake_llm.plan_reply({"messages": later})["text"] == fake_llm.ANSWER


# ---- the image: one version pin, pinned deps, self-contained bridge ----------------------------------------

def test_openclaw_version_is_pinned_once() -> None:
    version = openclaw_version()
    assert re.fullmatch(r"\d{4}\.\d+\.\d+", version)
    dockerfile = (AGENT_DIR / "Dockerfile").read_text()
    assert re.search(r"^ARG OPENCLAW_VERSION$", dockerfile, re.M)  # no default: build.sh passes the pin
    assert "FROM ghcr.io/openclaw/openclaw:${OPENCLAW_VERSION}" in dockerfile
    for path in [AGENT_DIR / "Dockerfile", AGENT_DIR / "fly.toml", AGENT_DIR / "entrypoint.sh", AGENT_DIR / "build.sh",
                 ROOT / "devstack" / "openclaw_runtime.py", *sorted((AGENT_DIR / "bridge").rglob("*.py"))]:
        assert version not in path.read_text(), f"{path} repeats the pinned version"
    assert "OPENCLAW_VERSION" in (AGENT_DIR / "build.sh").read_text()


def test_fly_toml_matches_the_machine_contract() -> None:
    cfg = tomllib.loads((AGENT_DIR / "fly.toml").read_text())
    svc = cfg["http_service"]
    assert svc["internal_port"] == 8080 and svc["auto_stop_machines"] == "suspend" and svc["auto_start_machines"] is True
    assert svc["checks"][0]["path"] == "/health"
    assert cfg["mounts"][0]["destination"] == "/data"
    assert cfg["vm"][0]["memory"] == "2048mb" and cfg["vm"][0]["cpu_kind"] == "shared"


def test_image_requirements_match_the_lock() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"]}
    for line in (AGENT_DIR / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            assert locked[name] == version, name


def _imported_modules(path: Path) -> set[str]:
    """Absolute module names a file imports (`from pkg import sub` names `pkg.sub` when it is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if _module_file(sub) else node.module)
    return found


def _module_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _image_files() -> set[str]:
    """Repository paths the agent image holds: what its Dockerfile COPYs, and the `__init__.py` it touches."""
    dockerfile = (AGENT_DIR / "Dockerfile").read_text().replace("\\\n", " ")
    shipped: set[str] = set()
    sources = [line.split()[1:-1] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    for source in (s for group in sources for s in group):
        target = ROOT / source
        shipped.update(str(f.relative_to(ROOT)) for f in ([target] if target.is_file() else target.rglob("*.py")))
    shipped.update(re.findall(r"/opt/openagents/(\S+/__init__\.py)", dockerfile))
    return shipped


def test_bridge_imports_only_what_the_image_ships() -> None:
    """Everything the bridge imports, followed through the project modules it reaches: each of those
    is in the image (with its packages' `__init__`), and each other import is the standard library or
    a distribution the image installs from requirements.txt."""
    from importlib.metadata import packages_distributions

    installed = {line.split("==")[0].lower() for line in (AGENT_DIR / "requirements.txt").read_text().splitlines()
                 if line and not line.startswith("#")}
    dists = packages_distributions()
    shipped = _image_files()
    todo = sorted((AGENT_DIR / "bridge").rglob("*.py"))
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported_modules(path):
            root = name.split(".")[0]
            if root in ("fly", "shared", "api", "jobs", "functions", "devstack", "cli", "bench"):
                parts = name.split(".")
                for i in range(1, len(parts) + 1):
                    file = _module_file(".".join(parts[:i]))
                    assert file is not None, (path, name)
                    assert str(file.relative_to(ROOT)) in shipped, f"{path.relative_to(ROOT)} imports {name}, not in the image"
                todo.append(file)
            elif root not in sys.stdlib_module_names:
                assert {d.lower() for d in dists.get(root, [])} & installed, (path, name)
    assert ROOT / "shared" / "bridge" / "protocol.py" in seen  # the shared contract is followed too


def test_the_bridge_protocol_needs_only_the_standard_library() -> None:
    for name in _imported_modules(ROOT / "shared" / "bridge" / "protocol.py"):
        assert name.split(".")[0] in sys.stdlib_module_names, name
