"""Shared fixtures: a throwaway Postgres cluster with the real migrations, the app, users, the harness.

Configuration is fixed here before any project module reads it: test mode, canary secrets (see
tests/support/harness.py) and, once the cluster is up, its DATABASE_URL.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.harness import CANARIES, RECORDER, ApiClient, CaptureHandler

os.environ["OPENAGENTS_ENV"] = "test"
os.environ["OPENAGENTS_DATA_DIR"] = tempfile.mkdtemp(prefix="oa-test-data-")
os.environ.setdefault("PORT", "8080")
for _name, _value in CANARIES.items():
    os.environ[_name] = _value
# Every relay is configured, so a route-table test meets each verifier's 4xx, never "not configured".
os.environ.setdefault("WHATSAPP_VERIFY_TOKEN", "test-whatsapp-verify-token")
os.environ.setdefault("DISCORD_PUBLIC_KEY", "8c3b1a6f3e1d2c9b0a7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a291")

_capture = CaptureHandler(RECORDER)


def pytest_configure(config: pytest.Config) -> None:
    from shared import logs

    logs.configure("INFO")
    logging.getLogger().addHandler(_capture)
    logs.register_secrets(list(CANARIES.values()))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A test that cannot run its dependency fails; it never skips (a skip hides a broken setup)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped tests are not allowed here: {report.longrepr}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaks = RECORDER.leaks()
    if leaks:
        print("\nSECRET LEAK CHECK FAILED:\n  " + "\n  ".join(leaks[:50]))
        session.exitstatus = 1
    elif RECORDER.responses or RECORDER.logs:
        print(f"\nsecret leak check: {len(RECORDER.responses)} responses and {len(RECORDER.logs)} log lines clean")


@dataclass
class TestDatabase:
    url: str
    admin_url: str


@pytest.fixture(scope="session")
def database() -> Iterator[TestDatabase]:
    """A migrated database: $TEST_DATABASE_URL if given, else a throwaway local cluster."""
    from shared.config import reset_settings
    from shared.data import Database, migrate, set_db

    given = os.environ.get("TEST_DATABASE_URL")
    pg = None
    tmp = None
    if given:
        url = admin = given
    else:
        from devstack.postgres import LocalPostgres, free_port

        tmp = Path(tempfile.mkdtemp(prefix="oa-test-pg-"))
        pg = LocalPostgres(tmp, port=free_port(), password="test-pg-" + uuid.uuid4().hex[:12], fast=True)
        pg.start()
        admin = pg.url()
        migrate.create_database(admin, "openagents_test")
        url = pg.url("openagents_test")
    migrate.migrate(url, log=lambda *_: None)
    os.environ["DATABASE_URL"] = url
    reset_settings()
    db = Database(url, max_size=20)
    set_db(db)
    try:
        yield TestDatabase(url=url, admin_url=admin)
    finally:
        set_db(None)
        if pg is not None:
            pg.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def db(database: TestDatabase) -> Any:
    from shared.data import get_db

    return get_db()


@pytest.fixture(scope="session")
def app(database: TestDatabase) -> Any:
    from devstack.server import VercelDispatcher

    return VercelDispatcher()


@pytest.fixture
def client(app: Any) -> ApiClient:
    return ApiClient(app)


@dataclass
class SignedInUser:
    id: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_user(client: ApiClient) -> Any:
    """Signs in a fresh user through the real dev sign-in route."""

    def make(role: str | None = None, email: str | None = None) -> SignedInUser:
        email = email or f"user-{uuid.uuid4().hex[:12]}@test.openagents.dev"
        body: dict[str, Any] = {"email": email}
        if role:
            body["role"] = role
        resp = client.post("/api/dev/sign-in", json_body=body)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        data = resp.get_json()
        return SignedInUser(id=data["user_id"], email=email, token=data["access_token"])

    return make


@pytest.fixture
def user(make_user: Any) -> SignedInUser:
    return make_user()


@pytest.fixture(scope="session")
def seed_signing_key() -> str:
    """The key the demo agents' skills are signed with (the harness's SKILL_SIGNING_KEY is a canary)."""
    from shared.platform.signing import new_private_key

    key = new_private_key()
    RECORDER.secret(key)
    return key


@pytest.fixture
def seeded(database: TestDatabase, seed_signing_key: str) -> None:
    from shared.data import migrate

    migrate.seed(database.url, log=lambda *_: None, signing_key=seed_signing_key)
