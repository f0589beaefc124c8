"""The LLM proxy's far end: a fake provider of its own (so tests can make it fail or refuse keys)
and the platform's keys for it, which join the leak check."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from shared.config import overridden
from tests.support.harness import RECORDER

PLATFORM_KEY = "sk-platform-canary-" + secrets.token_hex(12)
RECORDER.secret(PLATFORM_KEY)


@pytest.fixture(scope="module")
def provider() -> Iterator[Any]:
    """The fake provider both dialects forward to, with the platform's key configured."""
    from devstack.fake_llm import FakeLLM, upstream_env

    llm = FakeLLM(chunk_delay_s=0).start()
    try:
        with overridden(upstream_env(llm, key=PLATFORM_KEY)):
            yield llm
    finally:
        llm.stop()


@pytest.fixture(autouse=True)
def _fresh_provider(request: pytest.FixtureRequest) -> None:
    if "provider" in request.fixturenames:
        llm = request.getfixturevalue("provider")
        llm.refuse_keys.clear()
        llm.response_id = None
        while llm._take_failure() is not None:
            pass
