from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.postgres import free_port
from tests.support.dev_stack import DevStack


def stack_env(database: Any, dbname: str, port: int, **extra: str) -> dict[str, str]:
    """The environment of an `openagents dev` of its own: a database of its own in the test cluster
    (its job worker must not pick up other tests' jobs) and, as on a fresh machine, no Stripe keys
    (so it runs its local Stripe fake)."""
    from shared.data import migrate

    migrate.create_database(database.admin_url, dbname)
    url = database.admin_url.rsplit("/", 1)[0] + f"/{dbname}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIPE_")}
    env.update({"DATABASE_URL": url, "PORT": str(port), **extra})
    return env


@pytest.fixture(scope="module")
def running_stack(database: Any) -> Iterator[str]:
    """`openagents dev` as a user runs it, on a free port."""
    port = free_port()
    stack = DevStack(stack_env(database, "openagents_e2e", port), port)
    try:
        yield stack.start(timeout=60)
    finally:
        stack.close()  # its log lines join the session's leak check
