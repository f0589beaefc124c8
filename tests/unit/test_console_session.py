"""The console's local refresh statement (dev and test): it renews access for its user until it ends,
and a forged, altered, expired or production-side one renews nothing."""

from __future__ import annotations

import time

import jwt
import pytest
from pydantic import SecretStr

from shared.config import Settings, get_settings
from shared.problems import Problem
from shared.web import console_session


@pytest.fixture
def settings() -> Settings:
    return get_settings().model_copy(update={"SUPABASE_JWT_SECRET": SecretStr("unit-test-secret-for-the-console-session")})


def test_a_refresh_statement_mints_a_fresh_access_token_for_its_user(settings: Settings) -> None:
    refresh = console_session.dev_refresh_token("5d1f3c1e-0000-4000-8000-000000000001", "a@example.org", settings)
    tokens = console_session.refresh(refresh, settings, supabase=False, access_ttl_s=3600)
    claims = jwt.decode(tokens.access_token, "unit-test-secret-for-the-console-session", algorithms=["HS256"],
                        audience="authenticated")
    assert claims["sub"] == "5d1f3c1e-0000-4000-8000-000000000001" and claims["email"] == "a@example.org"
    assert abs(tokens.expires_at - (time.time() + 3600)) < 5
    assert tokens.refresh_token == refresh  # the sign-in's end does not move
    assert not console_session.needs_refresh(claims)
    assert console_session.needs_refresh({"exp": int(time.time()) + 60})
    assert console_session.needs_refresh({})


@pytest.mark.parametrize("case", ["forged", "altered", "expired", "supabase", "production", "empty"])
def test_a_bad_refresh_statement_renews_nothing(settings: Settings, case: str) -> None:
    good = console_session.dev_refresh_token("u1", "a@example.org", settings)
    token, supabase, used = good, False, settings
    if case == "forged":
        other = settings.model_copy(update={"SUPABASE_JWT_SECRET": SecretStr("another-secret-of-at-least-32-bytes!")})
        token = console_session.dev_refresh_token("u1", "a@example.org", other)
    elif case == "altered":
        body, mac = good.removeprefix("dev1.").split(".")
        token = f"dev1.{body[:-2]}AA.{mac}"
    elif case == "expired":
        token = console_session.dev_refresh_token("u1", "a@example.org", settings, ttl_s=-1)
    elif case == "supabase":
        supabase = True  # once real Auth is configured a local statement is worthless
    elif case == "production":
        used = settings.model_copy(update={"OPENAGENTS_ENV": "production"})
    else:
        token = ""
    with pytest.raises(Problem) as caught:
        console_session.refresh(token, used, supabase=supabase)
    assert caught.value.status == 401
