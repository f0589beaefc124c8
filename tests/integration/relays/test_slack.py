"""Slack: v0 signing with its 5-minute window, url_verification, retries that act once, slash commands,
and link → message → the agent's answer in blocks."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from devstack.emulators.slack.fake import dm_envelope, sign
from fly.agent.bridge.runtime.offline import offline_answer
from shared.relays.slack import signature
from tests.integration.relays.conftest import SLACK_SECRET, drain_relays, inbox, relay_jobs
from tests.support.harness import assert_problem

EVENTS = "/functions/v1/slack-events"
COMMANDS = "/functions/v1/slack-commands"


def _post(client, path, body: bytes, *, ts: int | None = None, ctype="application/json", extra=None, secret=SLACK_SECRET):
    return client.post(path, data=body, headers={"Content-Type": ctype, **sign(secret, body, ts), **(extra or {})})


def test_our_signature_is_slacks():
    body, ts = b'{"type":"event_callback"}', str(int(time.time()))
    assert SignatureVerifier(SLACK_SECRET).is_valid(body, ts, signature(SLACK_SECRET, ts, body))


def test_url_verification_answers_the_challenge(client, relay_env):
    body = json.dumps({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"}).encode()
    resp = _post(client, EVENTS, body)
    assert resp.status_code == 200
    assert resp.get_json()["challenge"] == "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"


def test_an_event_and_its_retries_act_once(client, relay_env, db):
    envelope = dm_envelope(relay_env.slack.state, "U0USER0001", "hi from slack")
    body = json.dumps(envelope).encode()
    assert _post(client, EVENTS, body).get_json()["recorded"] == 1
    for n in (1, 2, 3):  # Slack's retries carry the same event id
        resp = _post(client, EVENTS, body, extra={"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"})
        assert resp.status_code == 200 and resp.get_json()["recorded"] == 0
    rows = [r for r in inbox(db, "slack") if r["platform_id"] == envelope["event_id"]]
    assert len(rows) == 1
    assert len([j for j in relay_jobs(db) if j["args"] == {"inbox_id": rows[0]["id"]}]) == 1


def test_forged_stale_malformed_oversize_and_unknown(client, relay_env, db):
    envelope = dm_envelope(relay_env.slack.state, "U0USER0002", "forged")
    body = json.dumps(envelope).encode()
    before = len(inbox(db))
    assert_problem(_post(client, EVENTS, body, secret="not-the-secret"), 401)
    assert_problem(_post(client, EVENTS, body, ts=int(time.time()) - 301), 401)  # outside the 5-minute window
    assert_problem(_post(client, EVENTS, body, ts=int(time.time()) + 400), 401)
    assert_problem(client.post(EVENTS, data=body, headers={"Content-Type": "application/json"}), 401)
    assert_problem(_post(client, EVENTS, b"{nope"), 400)
    assert_problem(_post(client, EVENTS, json.dumps({"type": "event_callback", "event": {}}).encode()), 400)
    assert_problem(_post(client, EVENTS, b'{"type":"x","pad":"' + b"a" * (600 * 1024) + b'"}'), 413)
    for other in ({"type": "app_rate_limited", "team_id": "T1", "minute_rate_limited": 1518467820, "api_app_id": "A1"},
                  {**envelope, "event_id": "Ev0JOINED01", "event": {**envelope["event"], "subtype": "channel_join"}},
                  {**envelope, "event_id": "Ev0BOTMSG01", "event": {**envelope["event"], "bot_id": "B1"}},
                  {**envelope, "event_id": "Ev0REACT001", "event": {"type": "reaction_added", "user": "U1"}}):
        resp = _post(client, EVENTS, json.dumps(other).encode())
        assert resp.status_code == 200 and resp.get_json()["recorded"] == 0
    assert len(inbox(db)) == before


def test_slash_commands_are_recorded_once(client, relay_env, db):
    form = relay_env.slack.command_form("U0USER0003", "D0USER0003", "summarise my day")
    body = urlencode(form).encode()
    first = _post(client, COMMANDS, body, ctype="application/x-www-form-urlencoded")
    assert first.status_code == 200 and first.get_json()["response_type"] == "ephemeral"
    assert first.get_json()["recorded"] == 1
    assert _post(client, COMMANDS, body, ctype="application/x-www-form-urlencoded").get_json()["recorded"] == 0
    assert_problem(_post(client, COMMANDS, b"user_id=U1", ctype="application/x-www-form-urlencoded"), 400)
    assert _post(client, COMMANDS, b"ssl_check=1&token=x", ctype="application/x-www-form-urlencoded").status_code == 200
    assert_problem(_post(client, COMMANDS, body, ts=int(time.time()) - 1000, ctype="application/x-www-form-urlencoded"),
                   401)


def test_link_by_command_then_dm_reaches_the_agent(agent, db):
    fake = agent.stack.fakes.slack
    token = agent.link("slack")["token"]
    assert agent.link("slack")["url"].startswith("/openagents link ")
    _, resp = fake.command("U0SLACK001", "D0SLACK001", f"link {token}")
    assert resp.status_code == 200
    drain_relays(db)
    (confirm,) = fake.sent("D0SLACK001")
    assert confirm["text"].startswith("Linked!")
    _, resp = fake.send_dm("U0SLACK001", "plan my week TOKENS=40")
    assert resp.status_code == 200
    drain_relays(db)
    reply = fake.sent("D0SLACK001")[-1]
    expected = "".join(offline_answer("plan my week TOKENS=40", 40))
    assert reply["text"] == expected
    assert [b["text"]["text"] for b in reply["blocks"]] == [expected]


def test_a_mention_is_answered_in_its_thread_and_rate_limits_wait(agent, db):
    fake = agent.stack.fakes.slack
    token = agent.link("slack")["token"]
    fake.command("U0SLACK002", "D0SLACK002", f"link {token}")
    drain_relays(db)
    fake.flood(1, retry_after=1)
    envelope, _ = fake.mention("U0SLACK002", "C0GENERAL1", "what's new?")
    started = time.monotonic()
    drain_relays(db)
    assert len(fake.refused()) == 1 and time.monotonic() - started >= 1.0
    (reply,) = fake.sent("C0GENERAL1")
    assert reply["thread_ts"] == envelope["event"]["ts"]
    assert reply["text"] == "".join(offline_answer("what's new?", 24))
