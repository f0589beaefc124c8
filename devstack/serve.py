"""`python -m devstack.serve --port N`: only the API + functions (as vercel.json routes them), for
benchmarks that need the API in a process of its own. `openagents dev` is the whole stack."""

from __future__ import annotations

import argparse

from werkzeug.serving import run_simple

from devstack.server import VercelDispatcher


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    run_simple("127.0.0.1", args.port, VercelDispatcher(), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
