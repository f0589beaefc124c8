"""`python -m fly.agent.bridge [serve]` runs the bridge; `python -m fly.agent.bridge prepare` is the
boot step entrypoint.sh runs before OpenClaw starts (write/merge openclaw.json, make sure the gateway
token exists, re-verify installed skills). Settings: see config.py.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

_STD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonLines(logging.Formatter):
    """One JSON object per line; extras included. Nothing secret is ever passed to the logger."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
               "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per loopback request is noise


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "serve"
    if command == "prepare":
        from fly.agent.bridge.openclaw_config import prepare_config

        data_dir = Path(os.environ.get("BRIDGE_DATA_DIR") or "/data")
        prepare_config(data_dir, os.environ)
        from fly.agent.bridge.bundle import prepare_skills
        from shared.skills.signatures import load_public_keys

        keys = load_public_keys(os.environ.get("SKILL_SIGNING_PUBLIC_KEYS"))
        state = prepare_skills(data_dir / "workspace", data_dir / ".openagents", keys)
        print(json.dumps({"prepared": str(data_dir), "skills": state.skills_report()}))
        return 0
    if command != "serve":
        print(f"usage: python -m fly.agent.bridge [serve|prepare]; got {command!r}", file=sys.stderr)
        return 2
    import uvicorn

    from fly.agent.bridge.app import create_app
    from fly.agent.bridge.config import BridgeConfig, ConfigError

    try:
        config = BridgeConfig.from_env()
    except ConfigError as exc:
        print(f"bridge: {exc}", file=sys.stderr)
        return 2
    _configure_logging(config.log_level)
    uvicorn.run(create_app(config), host=config.host, port=config.port, log_config=None, access_log=False,
                timeout_graceful_shutdown=5, lifespan="on")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
