"""`python -m devstack.serve --port N`: only the API + functions (as vercel.json routes them), for
benchmarks that need the API in a process of its own. `openagents dev` is the whole stack."""

from __future__ import annotations

import argparse

from devstack.server import make_api_server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    make_api_server(args.port).serve_forever()


if __name__ == "__main__":
    main()
