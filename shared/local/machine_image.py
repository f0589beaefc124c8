"""What a local "image" runs: the Fly emulator starts every machine with this entry point, which
execs the program the machine's image stands for (on Fly, the image itself decides).

- an image containing `sse-gateway` → the SSE gateway (`python -m fly.sse_gateway`)
- anything else → the agent machine's bridge (`python -m fly.agent.bridge`)
"""

from __future__ import annotations

import os
import sys

SSE_GATEWAY_IMAGE = "registry.fly.io/openagents-sse-gateway:local"


def main() -> None:
    image = os.environ.get("FLY_IMAGE_REF", "")
    module = "fly.sse_gateway" if "sse-gateway" in image else "fly.agent.bridge"
    os.environ.setdefault("HOST", "127.0.0.1")
    os.execv(sys.executable, [sys.executable, "-u", "-m", module])


if __name__ == "__main__":
    main()
