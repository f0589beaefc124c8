"""The layout the architecture asks for (§1): the deployed library never reaches for the local
platform, and nothing deployed ships it."""

from __future__ import annotations

import ast
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = ("api", "functions", "jobs", "shared", "fly")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_deployed_code_never_imports_the_local_platform() -> None:
    offenders = []
    for top in DEPLOYED:
        for path in sorted((ROOT / top).rglob("*.py")):
            bad = sorted(m for m in _imports(path) if m == "devstack" or m.startswith("devstack."))
            if bad:
                offenders.append(f"{path.relative_to(ROOT)}: {', '.join(bad)}")
    assert offenders == []


def test_guard_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from devstack.emulators.fly import FlyEmulator\n")
    assert "devstack.emulators.fly" in _imports(module)


def test_functions_ship_no_dev_code() -> None:
    config = json.loads((ROOT / "vercel.json").read_text())
    for build in config["builds"]:
        included = build["config"].get("includeFiles", "")
        excluded = build["config"].get("excludeFiles", "")
        assert "devstack" not in included and "devstack" in excluded, build["src"]
    ignored = (ROOT / ".vercelignore").read_text().split()
    assert "devstack" in ignored


def test_api_functions_ship_the_openclaw_pin_and_nothing_else_of_fly() -> None:
    """shared/platform records the base image's OpenClaw version (fly/agent/OPENCLAW_VERSION) on every
    agent version, so the API functions carry that one file of fly/ — and no other."""
    config = json.loads((ROOT / "vercel.json").read_text())
    api = next(b for b in config["builds"] if b["src"] == "api/*.py")["config"]
    included = api["includeFiles"] if isinstance(api["includeFiles"], list) else [api["includeFiles"]]
    assert "fly/agent/OPENCLAW_VERSION" in included
    excluded = api["excludeFiles"]
    for pattern in ("fly/!(agent)", "fly/!(agent)/**", "fly/agent/!(OPENCLAW_VERSION)",
                    "fly/agent/!(OPENCLAW_VERSION)/**"):
        assert pattern in excluded
    assert "fly/agent/OPENCLAW_VERSION" not in excluded.replace("!(OPENCLAW_VERSION)", "")
    ignore = [line.strip() for line in (ROOT / ".vercelignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert "fly" not in ignore  # the folder is not dropped whole …
    assert ignore.index("fly/*") < ignore.index("!fly/agent") < ignore.index("fly/agent/*") \
        < ignore.index("!fly/agent/OPENCLAW_VERSION")  # … only everything but the pin
    assert (ROOT / "fly" / "agent" / "OPENCLAW_VERSION").read_text().strip()


def test_images_ship_no_dev_code() -> None:
    for dockerfile in sorted((ROOT / "fly").rglob("Dockerfile")):
        copies = [line.split()[1] for line in dockerfile.read_text().splitlines() if line.startswith("COPY ")]
        assert not [c for c in copies if c.startswith(("devstack", "bench", "tests", "specs"))], dockerfile


def test_external_descriptions_are_kept_in_the_project() -> None:
    for name in ("fly-machines-openapi", "stripe-fixtures3"):
        assert (ROOT / "specs" / f"{name}.json").is_file()
        assert "licen" in (ROOT / "specs" / f"{name}.SOURCE.md").read_text().lower()
