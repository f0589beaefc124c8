"""BYOK keys: only in Vault, listed without the key, deleted with their secret, optionally checked."""

from __future__ import annotations

import json
import uuid

from shared.config import overridden
from tests.support.harness import RECORDER, assert_problem


def _key(prefix: str = "sk-byok-") -> str:
    key = prefix + uuid.uuid4().hex + uuid.uuid4().hex[:8]
    RECORDER.secret(key)
    return key


def _rows(db, user_id):
    with db.service() as tx:
        return tx.sql("select * from api_keys where user_id = %(u)s order by provider", {"u": user_id}).fetchall()


def _secret(db, secret_id):
    with db.service() as tx:
        return tx.sql("select decrypted_secret from vault.decrypted_secrets where id = %(i)s",
                      {"i": secret_id}).fetchone()


def test_a_key_is_stored_only_in_vault(client, db, user):
    key = _key()
    resp = client.put("/api/keys/anthropic", token=user.token, json_body={"api_key": key})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["provider"] == "anthropic" and body["last_four"] == key[-4:] and body["checked"] is None
    assert key not in resp.get_data(as_text=True)
    (row,) = _rows(db, user.id)
    assert key not in json.dumps(row, default=str)  # the row: provider, secret id, last four, times
    assert row["last_four"] == key[-4:]
    assert _secret(db, row["secret_id"])["decrypted_secret"] == key
    # Replacing keeps one row and one secret, with the new value.
    newer = _key()
    assert client.put("/api/keys/anthropic", token=user.token, json_body={"api_key": newer}).status_code == 200
    (again,) = _rows(db, user.id)
    assert again["secret_id"] == row["secret_id"] and again["last_four"] == newer[-4:]
    assert _secret(db, row["secret_id"])["decrypted_secret"] == newer


def test_listing_names_providers_never_keys(client, db, user, make_user):
    keys = {p: _key() for p in ("openai", "openrouter")}
    for provider, key in keys.items():
        assert client.put(f"/api/keys/{provider}", token=user.token, json_body={"api_key": key}).status_code == 200
    resp = client.get("/api/keys", token=user.token)
    assert resp.status_code == 200
    page = resp.get_json()
    assert [i["provider"] for i in page["items"]] == ["openai", "openrouter"] and page["next_cursor"] is None
    assert set(page["items"][0]) == {"provider", "last_four", "created_at", "updated_at", "last_used_at", "checked"}
    assert not any(k in resp.get_data(as_text=True) for k in keys.values())
    assert client.get("/api/keys", token=make_user().token).get_json()["items"] == []  # someone else's: none
    assert_problem(client.get("/api/keys"), 401)


def test_delete_removes_the_vault_secret(client, db, user):
    assert client.put("/api/keys/google", token=user.token, json_body={"api_key": _key("AIza")}).status_code == 200
    (row,) = _rows(db, user.id)
    assert client.delete("/api/keys/google", token=user.token).status_code == 204
    assert _rows(db, user.id) == [] and _secret(db, row["secret_id"]) is None
    assert_problem(client.delete("/api/keys/google", token=user.token), 404)


def test_bad_providers_and_keys_are_refused_without_echoing_them(client, user):
    assert_problem(client.put("/api/keys/mistral", token=user.token, json_body={"api_key": _key()}), 404)
    spaced = "sk-has a space-" + uuid.uuid4().hex
    resp = client.put("/api/keys/openai", token=user.token, json_body={"api_key": spaced})
    assert_problem(resp, 422)
    assert spaced not in resp.get_data(as_text=True)
    assert_problem(client.put("/api/keys/openai", token=user.token, json_body={"api_key": "short"}), 422)


def test_a_key_can_be_checked_with_the_provider_first(client, db, user, provider):
    good, bad = _key(), _key()
    provider.refuse_keys.add(bad)
    with overridden({"LLM_CHECK_KEYS": "true"}):
        seen = len(provider.headers)
        refused = client.put("/api/keys/openai", token=user.token, json_body={"api_key": bad})
        body = assert_problem(refused, 422)
        assert body["type"].endswith("/key-refused") and bad not in refused.get_data(as_text=True)
        assert _rows(db, user.id) == []
        accepted = client.put("/api/keys/openai", token=user.token, json_body={"api_key": good})
        assert accepted.status_code == 200 and accepted.get_json()["checked"] is True
        assert provider.headers[-1]["authorization"] == f"Bearer {good}" and len(provider.headers) == seen + 2
        anthropic = client.put("/api/keys/anthropic", token=user.token, json_body={"api_key": good})
        assert anthropic.status_code == 200 and provider.headers[-1]["x-api-key"] == good


def test_key_and_cap_changes_are_audited(client, db, user):
    from tests.support.billing_helpers import world

    assert client.put("/api/keys/openai", token=user.token, json_body={"api_key": _key()}).status_code == 200
    assert client.delete("/api/keys/openai", token=user.token).status_code == 204
    w = world(db, user_id=user.id)
    assert client.patch(f"/api/instances/{w.instance_id}", token=user.token,
                        json_body={"spend_cap": {"hourly": 7}}).status_code == 200
    with db.service() as tx:
        rows = tx.sql("select action, target, data from audit_log where actor_id = %(u)s order by id",
                      {"u": user.id}).fetchall()
    assert [(r["action"], r["target"]) for r in rows] == [
        ("keys.stored", "key:openai"), ("keys.deleted", "key:openai"), ("caps.changed", f"instance:{w.instance_id}")]
    assert rows[2]["data"] == {"hourly": 7, "daily": None}
