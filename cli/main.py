"""`openagents` — the one command for the local stack and operations (subcommands fixed by ARCHITECTURE §6)."""

from __future__ import annotations

import argparse
import os
import sys


def _cmd_dev(args: argparse.Namespace) -> int:
    from devstack.stack import run_dev

    return run_dev(port=args.port)


def _database_url() -> str:
    from shared.config import get_settings

    url = get_settings().DATABASE_URL
    if url:
        return url
    from devstack.stack import local_postgres

    pg = local_postgres()
    pg.start()
    return pg.url("openagents")


def _cmd_db(args: argparse.Namespace) -> int:
    from shared.data import migrate as m

    url = _database_url()
    if args.db_command == "migrate":
        if "DATABASE_URL" not in os.environ:
            m.create_database(url.rsplit("/", 1)[0] + "/postgres", "openagents")
        m.migrate(url)
    elif args.db_command == "seed":
        m.seed(url)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from bench import run

    return run(args.name, full=not args.quick)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from shared.doctor import run

    return run()


def _cmd_worker(args: argparse.Namespace) -> int:
    from jobs.worker import run

    return run(concurrency=args.concurrency, queues=args.queue or None)


def _cmd_admin(args: argparse.Namespace) -> int:
    from cli.admin import run

    return run(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="openagents", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run the whole platform locally on embedded defaults")
    dev.add_argument("--port", type=int, default=None, help="API port (default $PORT or 8080)")
    dev.set_defaults(func=_cmd_dev)

    db = sub.add_parser("db", help="database tasks")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    dbsub.add_parser("migrate", help="apply the bootstrap (where needed) and migrations")
    dbsub.add_parser("seed", help="load demo data")
    db.set_defaults(func=_cmd_db)

    bench = sub.add_parser("bench", help="run benchmarks (all, or one by name)")
    bench.add_argument("name", nargs="?", default=None)
    bench.add_argument("--quick", action="store_true", help="reduced sizes (what `make test` runs)")
    bench.set_defaults(func=_cmd_bench)

    doctor = sub.add_parser("doctor", help="what is configured and what is missing")
    doctor.set_defaults(func=_cmd_doctor)

    worker = sub.add_parser("worker", help="run a durable job worker")
    worker.add_argument("--concurrency", type=int, default=4)
    worker.add_argument("--queue", action="append", metavar="NAME",
                        help="only this queue (repeatable; default: every queue)")
    worker.set_defaults(func=_cmd_worker)

    admin = sub.add_parser("admin", help="operator actions (each one audited)")
    from cli.admin import add_arguments

    add_arguments(admin)
    admin.set_defaults(func=_cmd_admin)

    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
