"""Profiles hold plain names and http(s) avatars, whichever way they are written; e-mails have one form."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from tests.support.harness import assert_problem


def _email(local: str = "") -> str:
    return f"{local}{uuid.uuid4().hex[:8]}@test.openagents.dev"


def test_kelvin_sign_and_case_sign_in_to_one_account_stored_in_normal_form(client, db):
    plain = _email("k")
    kelvin = "\u212a" + plain[1:]  # KELVIN SIGN, which NFKC folds to K
    ids = set()
    for spelling in (plain, kelvin, plain.upper(), kelvin.upper()):
        resp = client.post("/api/dev/sign-in", json_body={"email": spelling})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        ids.add(resp.get_json()["user_id"])
        me = client.get("/api/me", token=resp.get_json()["access_token"]).get_json()
        assert me["email"] == plain
    assert len(ids) == 1
    with db.service() as tx:
        stored = tx.sql("select email from auth.users where id = %(id)s", {"id": ids.pop()}).fetchone()["email"]
    assert stored == plain


def test_email_normal_form():
    from shared.text import normalize_email

    assert normalize_email("\u212aIM@Example.COM") == "kim@example.com"
    assert normalize_email("Stra\u00dfe@x.de") == "strasse@x.de"
    assert normalize_email("\uff41@x.de") == "a@x.de"  # fullwidth a


def test_profile_update_accepts_plain_names_and_http_avatars(client, user):
    resp = client.patch("/api/me", token=user.token, json_body={
        "display_name": "Ada Lovelace & Co", "avatar_url": "https://cdn.example.com/a.png", "default_model": "gpt-4o"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    me = resp.get_json()
    assert (me["display_name"], me["avatar_url"], me["default_model"]) == (
        "Ada Lovelace & Co", "https://cdn.example.com/a.png", "gpt-4o")
    cleared = client.patch("/api/me", token=user.token, json_body={"avatar_url": None}).get_json()
    assert cleared["avatar_url"] is None and cleared["display_name"] == "Ada Lovelace & Co"


@pytest.mark.parametrize("body", [
    {"avatar_url": "javascript:alert(1)"}, {"avatar_url": "JavaScript:alert(1)"},
    {"avatar_url": "data:text/html,<script>alert(1)</script>"}, {"avatar_url": "https://x.example/a b"},
    {"avatar_url": "//evil.example/a.png"}, {"avatar_url": "https://"}, {"avatar_url": "http://[::1"},
    {"display_name": "<script>alert(1)</script>"}, {"display_name": "Bob <b>"}, {"display_name": "tab\there"},
    {"display_name": ""}, {"display_name": None}, {"default_model": "gpt 4; drop"},
], ids=json.dumps)
def test_profile_update_refuses_markup_and_non_http_avatars(client, user, body):
    before = client.get("/api/me", token=user.token).get_json()
    resp = client.patch("/api/me", token=user.token, json_body=body)
    assert_problem(resp, resp.status_code)
    assert resp.status_code in (400, 422)
    assert client.get("/api/me", token=user.token).get_json() == before


def test_sign_in_refuses_markup_in_the_display_name(client):
    resp = client.post("/api/dev/sign-in", json_body={"email": _email(), "display_name": "<img src=x onerror=alert(1)>"})
    assert_problem(resp, 422)


@pytest.mark.parametrize("column, value", [("avatar_url", "javascript:alert(1)"), ("display_name", "<b>bold</b>"),
                                           ("avatar_url", "ftp://x.example/a"), ("display_name", "nul\x01")])
def test_the_database_refuses_them_from_any_client(database, user, column, value):
    """PostgREST lets a user update their own profile directly: the checks live in the table."""
    with psycopg.connect(database.url) as conn:
        conn.execute("set role authenticated")
        conn.execute("select set_config('request.jwt.claims', %s, true)",
                     (json.dumps({"sub": user.id, "role": "authenticated"}),))
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(f"update public.profiles set {column} = %s where id = %s", (value, user.id))


def test_sign_up_strips_markup_from_the_provider_name(db):
    """Supabase Auth fills the name from the identity provider: stripped, so sign-up never fails on it."""
    with db.service() as tx:
        uid = tx.sql("insert into auth.users (email, raw_user_meta_data) values (%(e)s, %(m)s) returning id",
                     {"e": _email(), "m": json.dumps({"display_name": "<b>Ada</b> <script>x</script>\x07"})}
                     ).fetchone()["id"]
        name = tx.sql("select display_name from profiles where id = %(id)s", {"id": uid}).fetchone()["display_name"]
    assert name == "Ada x"


def test_instance_display_names_are_plain_text_too(client, user, db):
    from tests.support.billing_helpers import world

    w = world(db, user_id=user.id)
    resp = client.patch(f"/api/instances/{w.instance_id}", token=user.token, json_body={"display_name": "<b>mine</b>"})
    assert_problem(resp, 422)
    ok = client.patch(f"/api/instances/{w.instance_id}", token=user.token, json_body={"display_name": "Mine & yours"})
    assert ok.status_code == 200, ok.get_data(as_text=True)
