"""WhatsApp: the subscription handshake, X-Hub-Signature-256, batched notifications recorded per
message, the 24-hour window, throttling, and link → message → the agent's answer."""

from __future__ import annotations

import json
import time

from fly.agent.bridge.runtime.offline import offline_answer
from shared.config import overridden
from tests.integration.relays.conftest import WA_VERIFY, drain_relays, inbox, relay_jobs
from tests.support.harness import assert_problem

PATH = "/functions/v1/whatsapp-webhook"


def _post(client, fake, notification, *, sig=None):
    body = notification if isinstance(notification, bytes) else json.dumps(notification).encode()
    return client.post(PATH, data=body, headers={"Content-Type": "application/json",
                                                 "X-Hub-Signature-256": sig or fake.signature(body)})


def test_the_subscription_handshake(client, relay_env):
    ok = client.get(PATH, query={"hub.mode": "subscribe", "hub.verify_token": WA_VERIFY, "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.get_data(as_text=True) == "1158201444"
    assert_problem(client.get(PATH, query={"hub.mode": "subscribe", "hub.verify_token": "no", "hub.challenge": "1"}), 403)
    assert_problem(client.get(PATH, query={"hub.mode": "unsubscribe", "hub.verify_token": WA_VERIFY}), 403)


def test_batched_messages_are_recorded_once_each(client, relay_env, db):
    fake = relay_env.whatsapp
    one, two = fake.notification("15551230001", "first"), fake.notification("15551230002", "second")
    one["entry"][0]["changes"].append(two["entry"][0]["changes"][0])
    one["entry"][0]["changes"].append({"field": "messages", "value": {"messaging_product": "whatsapp", "statuses": [
        {"id": "wamid.X", "status": "delivered", "timestamp": str(int(time.time())), "recipient_id": "15551230001"}]}})
    resp = _post(client, fake, one)
    assert resp.status_code == 200 and resp.get_json() == {"received": 2, "recorded": 2}
    assert _post(client, fake, one).get_json() == {"received": 2, "recorded": 0}  # Meta redelivers
    ids = [m["id"] for c in one["entry"][0]["changes"] for m in c["value"].get("messages", [])]
    rows = [r for r in inbox(db, "whatsapp") if r["platform_id"] in ids]
    assert sorted(r["platform_id"] for r in rows) == sorted(ids)
    assert len([j for j in relay_jobs(db) if j["args"]["inbox_id"] in {r["id"] for r in rows}]) == 2


def test_forged_stale_malformed_oversize_and_unknown(client, relay_env, db):
    fake = relay_env.whatsapp
    n = fake.notification("15551230003", "forged")
    before = len(inbox(db))
    assert_problem(_post(client, fake, n, sig="sha256=" + "0" * 64), 401)
    assert_problem(client.post(PATH, data=json.dumps(n), headers={"Content-Type": "application/json"}), 401)
    old = fake.notification("15551230003", "old", timestamp=int(time.time()) - 8 * 86400)
    assert _post(client, fake, old).get_json()["recorded"] == 0  # past Meta's retry window: a replay
    assert_problem(_post(client, fake, b"[[["), 400)
    assert_problem(_post(client, fake, {"object": "whatsapp_business_account"}), 400)
    assert_problem(_post(client, fake, b'{"entry": [], "pad": "' + b"a" * (1100 * 1024) + b'"}'), 413)
    reaction = fake.notification("15551230003", "x")
    reaction["entry"][0]["changes"][0]["value"]["messages"][0] = {
        "from": "15551230003", "id": "wamid.REACT", "type": "reaction", "timestamp": str(int(time.time())),
        "reaction": {"message_id": "wamid.X", "emoji": "👍"}}
    assert _post(client, fake, reaction).get_json()["recorded"] == 0  # nothing to answer
    assert _post(client, fake, {"object": "page", "entry": []}).get_json()["recorded"] == 0
    assert len(inbox(db)) == before


def _link(agent, db, wa_id):
    fake = agent.stack.fakes.whatsapp
    link = agent.link("whatsapp")
    assert link["url"] == f"link {link['token']}"
    _, resp = fake.send_text(wa_id, link["url"])
    assert resp.status_code == 200
    drain_relays(db)
    (confirm,) = fake.sent(wa_id)
    assert confirm["text"]["body"].startswith("Linked!")
    fake.reset()


def test_link_then_chat_reaches_the_agent_and_throttling_waits(agent, db):
    fake = agent.stack.fakes.whatsapp
    _link(agent, db, "15551239001")
    fake.flood(1)
    fake.send_text("15551239001", "book a table")
    drain_relays(db)
    assert [r["refused"] for r in fake.refused()] == [130429]
    (reply,) = fake.sent("15551239001")
    assert reply["text"]["body"] == "".join(offline_answer("book a table", 24))
    assert fake.sent(kind="read")[0]["typing_indicator"] == {"type": "text"}


def test_outside_the_24_hour_window_only_a_template_or_nothing(agent, db, caplog):
    fake = agent.stack.fakes.whatsapp
    _link(agent, db, "15551239002")
    old = int(time.time()) - 25 * 3600  # e.g. a job that waited a day: the window has closed
    fake.send_text("15551239002", "hello from yesterday", timestamp=old)
    drain_relays(db)
    assert fake.sent("15551239002", kind=None) == [c for c in fake.sent("15551239002", kind=None) if c["kind"] == "read"]
    with overridden({"WHATSAPP_TEMPLATE_NAME": "openagents_reply_waiting"}):
        fake.send_text("15551239002", "and another", timestamp=old)
        drain_relays(db)
    (template,) = fake.sent("15551239002", kind="template")
    assert template["template"]["name"] == "openagents_reply_waiting"
    assert fake.sent("15551239002", kind="text") == []
    with db.service() as tx:
        turns = tx.sql("select count(*) as n from relay_inbox r join turns t on t.id = r.turn_id"
                       " where r.chat_id = '15551239002' and t.status = 'done'").fetchone()["n"]
    assert turns == 2  # the agent answered; only the window kept the answer from being sent
