"""A provisioned machine reaches models only through the platform's LLM proxy: its env holds the
proxy URL and the instance's own proxy token (from Vault), never a provider key or platform secret."""

from __future__ import annotations

import hashlib

from shared.config import get_settings, overridden
from tests.support.harness import CANARIES, RECORDER

PLATFORM_KEYS = {"OPENAI_API_KEY": "sk-platform-env-canary-5e7a9c1b3d", "ANTHROPIC_API_KEY": "sk-ant-env-canary-8b0d2f4a6c"}


def test_machine_env_holds_the_proxy_token_and_no_platform_secret(lifecycle, make_user):
    for v in PLATFORM_KEYS.values():
        RECORDER.secret(v)
    with overridden({**PLATFORM_KEYS, "LLM_PROXY_URL": "https://platform.example/llm"}):
        secrets = set(get_settings().secret_values())
        user = make_user()
        iid = lifecycle.hire(user)["id"]
        lifecycle.drain(instance_ids=[iid])
        row = lifecycle.row(iid)
        env = lifecycle.fly.call(lambda s: s.machines[row["fly_machine_id"]].config["env"])
    with lifecycle.db.service() as tx:
        tokens = tx.sql("select t.token_hash, t.user_id, s.decrypted_secret as token from proxy_tokens t"
                        " join vault.decrypted_secrets s on s.id = t.secret_id"
                        " where t.instance_id = %(i)s and t.revoked_at is null", {"i": iid}).fetchall()
    (token,) = tokens
    RECORDER.secret(token["token"])
    assert env["OPENAI_BASE_URL"] == "https://platform.example/llm/v1"
    assert env["ANTHROPIC_BASE_URL"] == "https://platform.example/llm"
    assert env["OPENAI_API_KEY"] == env["ANTHROPIC_API_KEY"] == token["token"]
    assert token["token_hash"] == hashlib.sha256(token["token"].encode()).hexdigest()  # stored hashed (+ Vault)
    assert str(token["user_id"]) == user.id
    values = " ".join(env.values())
    leaked = [v for v in {*secrets, *CANARIES.values(), *PLATFORM_KEYS.values()} if v and v in values]
    assert leaked == [], "platform secrets in a machine's env"
    assert set(env) >= {"GATEWAY_TOKEN", "OPENAI_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"}
