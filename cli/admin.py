"""`openagents admin …`: the operator's commands (logic in shared/admin; this module only parses and
prints). Every command prints JSON, so its output pipes into `jq`; errors go to stderr with exit 1.

    stuck [--minutes N] [--status S] [--stage S]   instances stuck provisioning or destroying
    jobs (--id N | --instance ID) [--retry|--cancel]  list, re-run or cancel jobs
    destroy --force INSTANCE [--no-snapshot]        force-destroy with Fly cleanup
    orphans                                         Fly apps no live instance owns (report only)
    credits grant|revoke USER N --reason TEXT [--key K]
    account USER                                    profile, plan, balance, instances, recent ledger
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import BaseModel


def add_arguments(admin: argparse.ArgumentParser) -> None:
    sub = admin.add_subparsers(dest="admin_command", required=True)

    stuck = sub.add_parser("stuck", help="instances stuck provisioning or destroying")
    stuck.add_argument("--minutes", type=float, default=15.0, help="unchanged at least this long (default 15)")
    stuck.add_argument("--status", choices=["provisioning", "destroying"], default=None)
    stuck.add_argument("--stage", choices=["queued", "app", "volume", "machine", "starting", "ready"], default=None)

    jobs = sub.add_parser("jobs", help="list, retry or cancel jobs")
    which = jobs.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, dest="job_id", help="one job")
    which.add_argument("--instance", help="an instance's jobs still in the queue table")
    act = jobs.add_mutually_exclusive_group()
    act.add_argument("--retry", action="store_true", help="re-run the job (--id only)")
    act.add_argument("--cancel", action="store_true", help="cancel the job, or ask a running one to abort (--id only)")

    destroy = sub.add_parser("destroy", help="force-destroy an instance, deleting its Fly resources")
    destroy.add_argument("instance")
    destroy.add_argument("--force", action="store_true", help="required: this skips the state machine")
    destroy.add_argument("--no-snapshot", action="store_true", help="delete volumes without snapshotting them")

    sub.add_parser("orphans", help="Fly apps with no live instance, and instances whose app is gone")

    credits = sub.add_parser("credits", help="grant or revoke credits (ledger + audit log)")
    credits.add_argument("direction", choices=["grant", "revoke"])
    credits.add_argument("user", help="e-mail or user id")
    credits.add_argument("credits", type=int)
    credits.add_argument("--reason", required=True)
    credits.add_argument("--key", default=None, help="idempotency key (default: derived from user, amount, reason)")

    account = sub.add_parser("account", help="a user's account at a glance")
    account.add_argument("user", help="e-mail or user id")


def _print(value: Any) -> None:
    data: Any
    if isinstance(value, BaseModel):
        data = value.model_dump(mode="json")
    elif isinstance(value, list):
        data = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    else:
        data = value
    print(json.dumps(data, indent=2, sort_keys=False))


def run(args: argparse.Namespace) -> int:
    from shared.admin import AdminError

    try:
        _print(_dispatch(args))
    except AdminError as e:
        print(f"openagents admin: {e}", file=sys.stderr)
        return 1
    return 0


def _dispatch(args: argparse.Namespace) -> Any:
    from shared.admin import AdminError

    cmd = args.admin_command
    if cmd == "stuck":
        from shared.admin.instances import stuck

        return stuck(args.minutes, status=args.status, stage=args.stage)
    if cmd == "jobs":
        from shared.admin import jobs

        if args.retry or args.cancel:
            if args.job_id is None:
                raise AdminError("--retry and --cancel act on one job: pass --id")
            return jobs.retry(args.job_id) if args.retry else jobs.cancel(args.job_id)
        return jobs.list_jobs(job_id=args.job_id, instance_id=args.instance)
    if cmd == "destroy":
        from shared.admin.instances import force_destroy

        return force_destroy(args.instance, force=args.force, snapshot=not args.no_snapshot)
    if cmd == "orphans":
        from shared.admin.instances import orphans

        return orphans()
    if cmd == "credits":
        from shared.admin.credits import adjust

        return adjust(args.user, args.direction, args.credits, args.reason, key=args.key)
    if cmd == "account":
        from shared.admin.accounts import account

        return account(args.user)
    raise AdminError(f"unknown admin command {cmd!r}")
