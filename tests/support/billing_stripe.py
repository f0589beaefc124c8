"""Stripe side of billing tests: the local fake with our catalogue, signed deliveries, job draining.

Import the fixtures into a test module (`from tests.support.billing_stripe import stripe_fake`).
The fake records events without delivering them; tests fetch them (`fake.events()`) and deliver them
themselves, signed with the test's webhook secret exactly as Stripe signs, as often and in whatever
order the test wants.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from shared.config import overridden
from tests.support.harness import CANARIES

SECRET = CANARIES["STRIPE_WEBHOOK_SECRET"]


class FakeStripe:
    def __init__(self, fake: Any, prices: dict[str, str]) -> None:
        self.fake = fake
        self.prices = prices
        self.seen: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fake, name)

    def client(self) -> Any:
        return self.fake.client(CANARIES["STRIPE_SECRET_KEY"])

    def new_events(self, types: list[str] | None = None) -> list[dict[str, Any]]:
        """Events recorded since the last call (oldest first)."""
        fresh = [e for e in self.fake.events() if e["id"] not in self.seen]
        self.seen.update(e["id"] for e in fresh)
        return [e for e in fresh if types is None or e["type"] in types]


@pytest.fixture(scope="module")
def stripe_fake(database: Any) -> Iterator[FakeStripe]:
    """The fake, our prices and meter in it, and settings pointing the platform at it (module-wide)."""
    from devstack.stripe_dev import start_stripe_fake

    fake, env = start_stripe_fake(api_key=None, deliver_webhooks=False)
    # The canary key and webhook secret stay: the fake accepts any test-mode key.
    wanted = {k: v for k, v in env.items() if k not in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")}
    try:
        with overridden(wanted):
            yield FakeStripe(fake, json.loads(env["STRIPE_PRICES"]))
    finally:
        fake.stop()


def sign(event: dict[str, Any], *, secret: str = SECRET, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    from devstack.emulators.stripe import sign_event

    return sign_event(event, secret, timestamp)


def deliver(client: Any, event: dict[str, Any]) -> Any:
    body, headers = sign(event)
    return client.post("/api/stripe/webhook", data=body, headers=headers)


def drain(queues: tuple[str, ...] = ("billing",)) -> list[dict[str, Any]]:
    """Runs the jobs waiting in `queues` in this process until none is left; returns them with their
    final status. Periodic deferring is switched off meanwhile, so a drain runs only what the test
    queued (a cron tick must not slip a payout or a reaper run into an unrelated test)."""
    from jobs.app import app
    from shared.data import get_db

    with get_db().service() as tx:
        ids = [r["id"] for r in tx.sql("select id from procrastinate.procrastinate_jobs where queue_name = any(%(q)s)"
                                       " and status = 'todo'", {"q": list(queues)}).fetchall()]
    registry = app.periodic_registry.periodic_tasks
    saved = dict(registry)
    registry.clear()
    try:
        app.run_worker(wait=False, install_signal_handlers=False, concurrency=1, queues=list(queues),
                       listen_notify=False)
    finally:
        registry.update(saved)
    with get_db().service() as tx:
        return tx.sql("select id, task_name, status::text, args from procrastinate.procrastinate_jobs"
                      " where id = any(%(ids)s) order by id", {"ids": ids}).fetchall()


def drain_ok(queues: tuple[str, ...] = ("billing",)) -> list[dict[str, Any]]:
    jobs = drain(queues)
    bad = [j for j in jobs if j["status"] != "succeeded"]
    assert not bad, bad
    return jobs


def session_id(url: str) -> str:
    m = re.search(r"(cs_test_\w+)", url)
    assert m, url
    return m.group(1)
