"""Fixtures for the creator platform: a real skill-signing key, creators and an admin.

    signing_key   SKILL_SIGNING_KEY set to a fresh Ed25519 key for the test (a secret: the canary check
                  watches it); the harness's default is a canary that is not a key at all. Each test's key
                  becomes the active one when first used, so no test depends on another's key
    creator       a signed-in user with role creator
    admin         a signed-in admin
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.harness import RECORDER


@pytest.fixture
def signing_key(database: Any) -> Iterator[str]:
    from shared.config import overridden
    from shared.platform.signing import new_private_key

    key = new_private_key()
    RECORDER.secret(key)
    with overridden({"SKILL_SIGNING_KEY": key}):
        yield key


@pytest.fixture
def creator(make_user: Any) -> Any:
    return make_user("creator")


@pytest.fixture
def admin(make_user: Any) -> Any:
    return make_user("admin")
