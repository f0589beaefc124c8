"""The agent machine: the pinned OpenClaw image plus the bridge (ARCHITECTURE §5a).

`OPENCLAW_VERSION` (this folder) is the one place the OpenClaw version is pinned: the image build
(build.sh → Dockerfile build arg), the local installer (devstack/openclaw_runtime.py) and the tests
read it.
"""

from __future__ import annotations

from pathlib import Path

AGENT_DIR = Path(__file__).resolve().parent
ENTRYPOINT = AGENT_DIR / "entrypoint.sh"


def openclaw_version() -> str:
    return (AGENT_DIR / "OPENCLAW_VERSION").read_text().strip()
