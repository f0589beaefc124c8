"""Verified access tokens are reused within a warm function (`shared.auth`, issue 14), and reuse never
accepts what verifying afresh would refuse: an expired token, or one checked against another secret."""

from __future__ import annotations

import time
import uuid

import pytest
from pydantic import SecretStr

from shared import auth
from shared.config import Settings, get_settings
from shared.problems import Problem


def _settings(secret: str) -> Settings:
    return get_settings().model_copy(update={"SUPABASE_JWT_SECRET": SecretStr(secret)})


@pytest.fixture
def settings() -> Settings:
    return _settings(f"unit-test-secret-{uuid.uuid4().hex}")


def test_a_token_verified_once_is_reused(settings: Settings) -> None:
    token = auth.mint_access_token(str(uuid.uuid4()), "a@example.org", settings)
    first = auth.verify_access_token(token, settings)
    assert auth.verify_access_token(token, settings) is first


def test_a_reused_token_is_refused_once_it_expires(settings: Settings) -> None:
    # Expired a second short of the leeway: accepted now, and kept only until the leeway runs out.
    token = auth.mint_access_token(str(uuid.uuid4()), "a@example.org", settings, ttl_s=-(auth.LEEWAY_S - 1))
    auth.verify_access_token(token, settings)
    time.sleep(1.2)
    with pytest.raises(Problem) as err:
        auth.verify_access_token(token, settings)
    assert err.value.status == 401 and "expired" in err.value.detail


def test_a_token_verified_under_one_secret_is_not_taken_under_another(settings: Settings) -> None:
    token = auth.mint_access_token(str(uuid.uuid4()), "a@example.org", settings)
    auth.verify_access_token(token, settings)
    with pytest.raises(Problem) as err:
        auth.verify_access_token(token, _settings(f"another-secret-{uuid.uuid4().hex}"))
    assert err.value.status == 401


def test_a_refused_token_is_not_remembered(settings: Settings) -> None:
    token = auth.mint_access_token(str(uuid.uuid4()), "a@example.org", settings)
    for _ in range(2):
        with pytest.raises(Problem):
            auth.verify_access_token(token[:-2] + ("AA" if not token.endswith("AA") else "BB"), settings)
    assert auth.verify_access_token(token, settings).email == "a@example.org"


def test_the_store_stays_bounded(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_VERIFIED_MAX", 8)
    for _ in range(20):
        auth.verify_access_token(auth.mint_access_token(str(uuid.uuid4()), "a@example.org", settings), settings)
    assert len(auth._verified) <= 8
