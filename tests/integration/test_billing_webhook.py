"""The Stripe webhook's front door: signature first, then the event id once (ARCHITECTURE §8: forged
signature, stale timestamp, replay, malformed body, oversize body)."""

from __future__ import annotations

import json
import time

import pytest

from devstack.emulators.stripe import build_event, sign_payload
from tests.support.billing_stripe import SECRET, deliver, sign
from tests.support.harness import assert_problem

PATH = "/api/stripe/webhook"
_made: list[str] = []


@pytest.fixture(autouse=True)
def _no_jobs_left_behind(db):
    """The jobs deferred here are for an account no Stripe fake knows: removed, so a later module's
    drain of the billing queue sees only its own."""
    yield
    with db.service() as tx:
        tx.sql("delete from procrastinate.procrastinate_jobs where args ->> 'event_id' = any(%(ids)s)", {"ids": _made})
    _made.clear()


def _event() -> dict:
    from devstack.emulators.stripe.fixtures import load_fixtures

    account = load_fixtures().raw("account")
    event = build_event("account.updated", account)
    _made.append(event["id"])
    return event


def _stored(db, event_id):
    with db.service() as tx:
        return tx.sql("select id, type, processed_at from stripe_events where id = %(i)s", {"i": event_id}).fetchall()


def _jobs(db, event_id):
    with db.service() as tx:
        return tx.sql("select task_name, queue_name, lock from procrastinate.procrastinate_jobs"
                      " where args ->> 'event_id' = %(i)s", {"i": event_id}).fetchall()


def test_a_signed_event_is_recorded_once_and_a_job_deferred(client, db):
    event = _event()
    first = deliver(client, event)
    assert first.status_code == 200 and first.get_json() == {"received": True, "duplicate": False}
    assert [r["type"] for r in _stored(db, event["id"])] == ["account.updated"]
    jobs = _jobs(db, event["id"])
    assert [(j["task_name"], j["queue_name"]) for j in jobs] == [("stripe_event", "billing")]
    assert jobs[0]["lock"] == f"stripe-account:{event['data']['object']['id']}"


def test_replay_is_a_200_no_op(client, db):
    event = _event()
    assert deliver(client, event).get_json()["duplicate"] is False
    for _ in range(2):
        again = deliver(client, event)  # a fresh signature each time, as Stripe's retries have
        assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert len(_stored(db, event["id"])) == 1 and len(_jobs(db, event["id"])) == 1


def test_forged_signature_is_rejected(client, db):
    event = _event()
    body, headers = sign(event, secret="whsec_not_the_real_secret")  # noqa: S106 (a wrong one on purpose)
    assert_problem(client.post(PATH, data=body, headers=headers), 400)
    body, headers = sign(event)
    tampered = body.replace(b'"account.updated"', b'"invoice.paid"')
    assert_problem(client.post(PATH, data=tampered, headers=headers), 400)
    assert_problem(client.post(PATH, data=body, headers={"Content-Type": "application/json"}), 400)  # no header
    garbage = {"Stripe-Signature": "t=abc,v1=zzz", "Content-Type": "application/json"}
    assert_problem(client.post(PATH, data=body, headers=garbage), 400)
    assert _stored(db, event["id"]) == []


def test_stale_timestamp_is_rejected(client, db):
    event = _event()
    body, headers = sign(event, timestamp=int(time.time()) - 301)
    problem = assert_problem(client.post(PATH, data=body, headers=headers), 400)
    assert problem["type"].endswith("invalid-signature")
    body, headers = sign(event, timestamp=int(time.time()) - 290)
    assert client.post(PATH, data=body, headers=headers).status_code == 200


def test_malformed_bodies_are_rejected_even_when_signed(client, db):
    for body in (b'{"unterminated": ', b"\xff\xfe not utf-8", b"[]", b'{"object": "charge", "id": "ch_1"}',
                 json.dumps({"id": "evt_1", "object": "event", "type": "x", "data": "no"}).encode()):
        headers = {"Stripe-Signature": sign_payload(body, SECRET), "Content-Type": "application/json"}
        assert_problem(client.post(PATH, data=body, headers=headers), 400)


def test_oversize_body_is_rejected_before_reading(client):
    body = b'{"x": "' + b"a" * (600 * 1024) + b'"}'
    headers = {"Stripe-Signature": sign_payload(body, SECRET), "Content-Type": "application/json"}
    assert_problem(client.post(PATH, data=body, headers=headers), 413)


def test_without_a_webhook_secret_billing_is_not_configured(client, monkeypatch):
    from shared.config import reset_settings

    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "")
    reset_settings()
    try:
        body, headers = sign(_event())
        problem = assert_problem(client.post(PATH, data=body, headers=headers), 503)
        assert "not configured" in problem["detail"]
    finally:
        monkeypatch.undo()
        reset_settings()


def test_oversize_chunked_body_is_cut_off_at_the_limit(client, db):
    """A chunked upload has no Content-Length to check up front: the read itself stops at the limit."""
    body = b'{"x": "' + b"a" * (600 * 1024) + b'"}'
    headers = {"Stripe-Signature": sign_payload(body, SECRET), "Content-Type": "application/json"}
    assert_problem(client.post(PATH, data=body, headers=headers, chunked=True), 413)
    event = _event()
    body, headers = sign(event)
    resp = client.post(PATH, data=body, headers=headers, chunked=True)
    assert resp.status_code == 200 and resp.get_json()["duplicate"] is False
    assert [r["type"] for r in _stored(db, event["id"])] == ["account.updated"]


def test_an_event_signed_with_the_connect_endpoints_secret_is_accepted_only_when_that_secret_is_set(client, db,
                                                                                                     monkeypatch):
    """Stripe signs connected accounts' events with the Connect endpoint's own secret."""
    from shared.config import reset_settings

    connect_secret = "whsec_" + "c0" * 24
    event = _event()
    body, headers = sign(event, secret=connect_secret)
    assert_problem(client.post(PATH, data=body, headers=headers), 400)
    assert _stored(db, event["id"]) == []
    monkeypatch.setenv("STRIPE_CONNECT_WEBHOOK_SECRET", connect_secret)
    reset_settings()
    try:
        resp = client.post(PATH, data=body, headers=headers)
        assert resp.status_code == 200 and resp.get_json()["duplicate"] is False
        # The platform endpoint's secret still works beside it; a stale signature still fails with either.
        other = _event()
        assert deliver(client, other).status_code == 200
        stale_body, stale = sign(_event(), secret=connect_secret, timestamp=int(time.time()) - 3600)
        assert_problem(client.post(PATH, data=stale_body, headers=stale), 400)
    finally:
        monkeypatch.undo()
        reset_settings()
