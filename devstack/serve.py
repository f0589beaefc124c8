"""`python -m devstack.serve --port N`: only the API + functions (as vercel.json routes them), for
benchmarks that need the API in a process of its own. `openagents dev` is the whole stack."""

from __future__ import annotations

import argparse
import os

from devstack.server import make_api_server

# A file the chat route appends each turn's first-token timestamps to (`bench stream`'s breakdown).
CHAT_TRACE_ENV = "OPENAGENTS_CHAT_TRACE"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if trace := os.environ.get(CHAT_TRACE_ENV):
        from shared.chat import timing

        timing.install(timing.file_sink(trace))
    make_api_server(args.port).serve_forever()


if __name__ == "__main__":
    main()
