"""Schemathesis against the served `/api/openapi.json`, in-process through the Vercel dispatcher (as
vercel.json routes every function), signed in as a real user: for every operation, generated valid
requests never get a 5xx, and every response matches what the document says — its status code, its
content type, its headers and its schema. Every response joins the secret-leak check.

Bounded for CI: EXAMPLES generated requests per operation (6; `FUZZ_EXAMPLES=40` for a deeper local
run, `FUZZ_MODE=all` to add invalid inputs — operations with nothing invalid to send then report a
skip, which this suite counts as a failure). `DELETE /api/me` is left out: it would delete the user
the rest of the run signs in as (tests/integration/lifecycle/test_account_deletion.py covers it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import billing_stripe
from tests.support.harness import RECORDER

stripe_fake = billing_stripe.stripe_fake  # the module-scoped fixture

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


def _schema() -> Any:
    """Loaded when the module is collected (the document needs no database); requests run later, once
    the test's fixtures have the database up. Not `schemathesis.pytest.from_fixture`: its lazy loading
    relies on pytest internals that pytest 9 no longer has."""
    from devstack.server import VercelDispatcher

    config = schemathesis.Config.from_dict({"generation": {"mode": os.environ.get("FUZZ_MODE", "positive"), "with-security-parameters": False}})
    loaded = schemathesis.openapi.from_wsgi("/api/openapi.json", VercelDispatcher(), config=config)
    return loaded.exclude(method="DELETE", path="/api/me")


schema = _schema()


@pytest.fixture(scope="module")
def deployed(stripe_fake: Any) -> Iterator[None]:
    """Configured as a deployment is: Stripe (the local fake) and every relay's secret, so a verifier
    answers a forged request with its 401/403 rather than a 503 for a secret that is not set."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from shared.config import overridden

    verify_token = "fuzz-whatsapp-verify-" + uuid.uuid4().hex
    RECORDER.secret(verify_token)
    discord_key = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
    with overridden({"WHATSAPP_VERIFY_TOKEN": verify_token, "DISCORD_PUBLIC_KEY": discord_key}):
        yield


@pytest.fixture(scope="module")
def fuzz_headers(app: Any, database: Any, seed_signing_key: str, deployed: None) -> dict[str, str]:
    from shared.data import migrate
    from tests.support.harness import ApiClient

    migrate.seed(database.url, log=lambda *_: None, signing_key=seed_signing_key)  # listings to answer with
    resp = ApiClient(app).post("/api/dev/sign-in", json_body={"email": "fuzz@test.openagents.dev"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_generated_requests_get_documented_answers(case: Any, fuzz_headers: dict[str, str]) -> None:
    response = case.call(headers=fuzz_headers)
    RECORDER.response(case.method, case.formatted_path, response.status_code, response.headers,
                      response.content or b"")
    case.validate_response(response, checks=CHECKS)
