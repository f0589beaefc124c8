"""Operator actions behind `openagents admin …` (cli/main.py): each one is a function here that
returns a pydantic model the CLI prints, and each writes an `audit_log` row (`admin.<verb>`) naming
the operator, in the same transaction as its effect where it has one.

    accounts.py   find a user by e-mail or id; an account at a glance
    credits.py    grant or revoke credits with a reason (an `adjustment` ledger entry)
    instances.py  stuck instances, force-destroy with Fly cleanup, orphaned Fly apps
    jobs.py       an instance's jobs; retry or cancel one (procrastinate's JobManager)

Errors an operator can fix are `AdminError` (the CLI prints its message and exits 1).
"""

from __future__ import annotations

import getpass
import os
from typing import Any

from shared import audit
from shared.data import Tx


class AdminError(Exception):
    """The action cannot be done as asked (unknown user, refused without --force, …)."""


def operator() -> str:
    """Who is acting: `OPENAGENTS_OPERATOR` if set (a shared bastion), else the login name."""
    name = os.environ.get("OPENAGENTS_OPERATOR") or ""
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "unknown"
    return name[:100]


def audited(tx: Tx, user_id: str | None, verb: str, target: str | None = None, **details: Any) -> None:
    """The audit row of one admin action; `user_id` is the account it concerns (None: no one's)."""
    audit.record(tx, user_id, f"admin.{verb}", target, {"operator": operator(), **details})
