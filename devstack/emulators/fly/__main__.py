"""`python -m devstack.emulators.fly`: run the emulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading

from devstack.emulators.fly.emulator import FlyEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.emulators.fly", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4280, help="Machines API port (0 = any free port)")
    parser.add_argument("--proxy-port", type=int, default=0, help="edge proxy port (0 = any free port)")
    parser.add_argument("--mode", choices=("process", "simulated"), default="process")
    parser.add_argument("--token", default=None, help="bearer token to require (default: accept any)")
    parser.add_argument("--machine-command", default=None, help="command line for process-mode machines")
    parser.add_argument("--seed", type=int, default=None, help="seed for probabilistic faults")
    parser.add_argument("--faults", default=None, help="initial faults as JSON (see faults.py)")
    parser.add_argument("--autostop-idle", type=float, default=None, help="seconds of idleness before autostop")
    parser.add_argument("--data-dir", default=None, help="volumes and machine logs (default: --state-dir, else a temp dir)")
    parser.add_argument("--state-dir", default=None, help="keep apps, volumes and machines here across restarts (default: in memory)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    emulator = FlyEmulator(
        args.host,
        args.port,
        args.mode,
        args.machine_command,
        proxy_port=args.proxy_port,
        token=args.token,
        seed=args.seed,
        faults=json.loads(args.faults) if args.faults else None,
        data_dir=args.data_dir,
        autostop_idle_s=args.autostop_idle,
        state_dir=args.state_dir,
    ).start()
    print(json.dumps({"api": emulator.url, "proxy": emulator.proxy_url, "mode": args.mode, "data_dir": str(emulator.data_dir)}), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
