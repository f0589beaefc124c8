"""Discord interactions: Ed25519 over timestamp + body, PING → PONG, deferred commands recorded once,
and link → /ask → the agent's answer as the deferred reply and its follow-ups."""

from __future__ import annotations

import json
import time

from fly.agent.bridge.runtime.offline import offline_answer
from shared.relays.split import split
from tests.integration.relays.conftest import drain_relays, inbox, relay_jobs
from tests.support.harness import assert_problem

PATH = "/functions/v1/discord-interactions"


def _post(client, fake, body, *, timestamp=None, headers=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(PATH, data=raw, headers=headers or fake.signed_headers(raw, timestamp))


def test_ping_is_answered_with_pong(client, relay_env):
    resp = _post(client, relay_env.discord, {"id": "1", "application_id": "1", "type": 1, "token": "t", "version": 1})
    assert resp.status_code == 200 and resp.get_json() == {"type": 1}
    assert resp.headers["Content-Type"].startswith("application/json")


def test_a_command_is_deferred_and_recorded_once(client, relay_env, db):
    body = relay_env.discord.interaction("1600000000000000001", "ask", {"message": "hi"})
    first = _post(client, relay_env.discord, body)
    assert first.status_code == 200 and first.get_json() == {"type": 5}
    assert _post(client, relay_env.discord, body).get_json() == {"type": 5}  # a redelivery: answered, not re-queued
    rows = [r for r in inbox(db, "discord") if r["platform_id"] == f"interaction:{body['id']}"]
    assert len(rows) == 1
    assert len([j for j in relay_jobs(db) if j["args"] == {"inbox_id": rows[0]["id"]}]) == 1
    link = relay_env.discord.interaction("1600000000000000001", "link", {"token": "x" * 32})
    assert _post(client, relay_env.discord, link).get_json() == {"type": 5, "data": {"flags": 64}}


def test_forged_stale_malformed_oversize_and_unknown(client, relay_env, db):
    fake = relay_env.discord
    body = fake.interaction("1600000000000000002", "ask", {"message": "forged"})
    raw = json.dumps(body).encode()
    before = len(inbox(db))
    forged = {**fake.signed_headers(raw), "X-Signature-Ed25519": "ab" * 64}
    assert_problem(_post(client, fake, raw, headers=forged), 401)  # Discord's own bad-signature probes
    assert_problem(_post(client, fake, raw, headers={**fake.signed_headers(raw), "X-Signature-Ed25519": "zz"}), 401)
    assert_problem(_post(client, fake, raw, timestamp=int(time.time()) - 600), 401)
    assert_problem(client.post(PATH, data=raw, headers={"Content-Type": "application/json"}), 401)
    tampered = raw.replace(b"forged", b"FORGED")
    assert_problem(_post(client, fake, tampered, headers=fake.signed_headers(raw)), 401)
    assert_problem(_post(client, fake, b"{]"), 400)
    assert_problem(_post(client, fake, {"type": 2}), 400)
    assert_problem(_post(client, fake, b'{"type":1,"pad":"' + b"a" * (300 * 1024) + b'"}'), 413)
    assert _post(client, fake, {**body, "type": 3}).get_json() == {"type": 6}  # a component: acknowledged
    assert _post(client, fake, {**body, "type": 4}).get_json() == {"type": 8, "data": {"choices": []}}
    assert _post(client, fake, {**body, "type": 42}).status_code == 200
    assert len(inbox(db)) == before


def test_link_then_ask_reaches_the_agent(agent, db):
    fake = agent.stack.fakes.discord
    link = agent.link("discord")
    assert link["url"] == f"/link token:{link['token']}"
    body, resp = fake.command("1600000000000000009", "link", {"token": link["token"]}, in_guild=False)
    assert resp.json() == {"type": 5, "data": {"flags": 64}}
    drain_relays(db)
    (confirm,) = _sent(fake, "edit_original", body)
    assert confirm["content"].startswith("Linked!")
    message = "write me a saga TOKENS=700"
    body, _ = fake.command("1600000000000000009", "ask", {"message": message})
    drain_relays(db)
    expected = "".join(offline_answer(message, 700))
    parts = split(expected, 2000)
    assert len(parts) >= 2
    assert [c["content"] for c in _sent(fake, "edit_original", body)] == parts[:1]
    assert [c["content"] for c in _sent(fake, "followup", body)] == parts[1:]
    assert all(c["allowed_mentions"] == {"parse": []} for c in fake.sent())


def _sent(fake, kind, interaction):
    return [c for c in fake.sent(kind) if c.get("token") == interaction["token"]]


def test_rate_limits_are_honoured(agent, db):
    fake = agent.stack.fakes.discord
    link = agent.link("discord")
    fake.command("1600000000000000010", "link", {"token": link["token"]})
    drain_relays(db)
    fake.reset()
    fake.flood(2, retry_after=0.4)
    body, _ = fake.command("1600000000000000010", "ask", {"message": "quick one"})
    drain_relays(db)
    assert len(fake.refused()) == 2
    assert [c["content"] for c in _sent(fake, "edit_original", body)] == ["".join(offline_answer("quick one", 24))]
