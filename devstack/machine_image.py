"""What a local "image" runs: the Fly emulator starts every machine with this entry point, which
execs the program the machine's image stands for (on Fly, the image itself decides).

- an image containing `sse-gateway` → the SSE gateway (`python -m fly.sse_gateway`)
- anything else → the agent machine (`fly/agent/entrypoint.sh`: the bridge, plus OpenClaw when the
  `openclaw` runtime is asked for)
"""

from __future__ import annotations

import os
import sys

SSE_GATEWAY_IMAGE = "registry.fly.io/openagents-sse-gateway:local"


def main() -> None:
    image = os.environ.get("FLY_IMAGE_REF", "")
    if "sse-gateway" in image:
        os.environ.setdefault("HOST", "127.0.0.1")
        os.execv(sys.executable, [sys.executable, "-u", "-m", "fly.sse_gateway"])
    from devstack.openclaw_runtime import agent_machine_command

    cmd = agent_machine_command()
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()
