"""Parts in doubt — a job died between committing `sending` and recording `sent` — settled per platform
against the fakes: Slack by looking the part's metadata key up in the channel (or thread) history,
WhatsApp by the status webhooks that echo the key, Telegram never re-sent (at most once)."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import pytest

from devstack.emulators.slack.fake import mention_envelope
from devstack.emulators.whatsapp.fake import status_notification
from shared.config import overridden
from shared.relays import outbox, slack, telegram, whatsapp
from shared.relays.models import Incoming, StatusPending
from shared.relays.platforms import ModuleSender

WA_PATH = "/functions/v1/whatsapp-webhook"


def _part(db: Any, mod: Any, msg: Incoming, text: str) -> tuple[int, str, dict[str, Any]]:
    """An inbox row (already done: no job to pick it up) with one stored reply part."""
    with db.service() as tx:
        inbox_id = tx.sql("insert into relay_inbox (relay, platform_id, chat_id, payload, status)"
                          " values (%(r)s, %(p)s, %(c)s, '{}'::jsonb, 'done') returning id",
                          {"r": msg.relay, "p": f"doubt-{secrets.token_hex(8)}", "c": msg.chat_id}).fetchone()["id"]
        (payload,) = mod.outgoing(msg, [text])
        outbox.store_in(tx, msg.relay, inbox_id, msg.chat_id, [payload])
    return inbox_id, outbox.part_key(msg.relay, inbox_id, 0), payload


def _died_sending(db: Any, inbox_id: int, ago_s: float) -> None:
    """What a job killed mid-send leaves behind: the part `sending`, its send begun `ago_s` ago."""
    with db.service() as tx:
        tx.sql("update relay_outbox set status = 'sending', attempts = attempts + 1,"
               " attempted_at = now() - make_interval(secs => %(a)s) where inbox_id = %(i)s",
               {"a": ago_s, "i": inbox_id})


def _row(db: Any, inbox_id: int) -> dict[str, Any]:
    with db.service() as tx:
        return tx.sql("select status, error, response, platform_status, platform_message_id from relay_outbox"
                      " where inbox_id = %(i)s", {"i": inbox_id}).fetchone()


def _slack_msg(channel: str, thread_ts: str | None = None) -> Incoming:
    reply: dict[str, Any] = {"channel": channel}
    if thread_ts:
        reply["thread_ts"] = thread_ts
    return Incoming("slack", "T0:U0DOUBT", f"T0:{channel}", "hi", reply_to=reply)


def test_slack_a_part_that_arrived_is_found_in_the_history_and_not_sent_again(relay_env, db):
    fake = relay_env.slack
    inbox_id, key, payload = _part(db, slack, _slack_msg("D0DOUBT01"), "the answer that did arrive")
    posted = slack.prepare(payload, key)()  # the send went out; then the job died
    _died_sending(db, inbox_id, 30)
    report = outbox.deliver_all("slack", inbox_id, ModuleSender(slack))
    assert (report.settled, report.sent, report.in_doubt) == (1, 0, 0)
    assert [c["text"] for c in fake.sent("D0DOUBT01")] == ["the answer that did arrive"]
    row = _row(db, inbox_id)
    assert row["status"] == "sent" and row["response"]["ts"] == posted["ts"]
    (stored,) = [m for m in fake.history("D0DOUBT01") if m.get("bot_id")]
    assert stored["metadata"] == {"event_type": "openagents_reply", "event_payload": {"key": key}}


def test_slack_a_part_that_never_arrived_is_sent_once(relay_env, db):
    fake = relay_env.slack
    other_id, other_key, other = _part(db, slack, _slack_msg("D0DOUBT02"), "an earlier reply")
    slack.prepare(other, other_key)()  # another part in the same channel: not mistaken for this one
    inbox_id, key, _ = _part(db, slack, _slack_msg("D0DOUBT02"), "lost on the way")
    _died_sending(db, inbox_id, 30)
    report = outbox.deliver_all("slack", inbox_id, ModuleSender(slack))
    assert (report.settled, report.sent) == (0, 1)
    assert [c["text"] for c in fake.sent("D0DOUBT02")] == ["an earlier reply", "lost on the way"]
    assert fake.sent("D0DOUBT02")[-1]["metadata"]["event_payload"] == {"key": key}


def test_slack_a_threaded_part_is_looked_up_in_its_thread(relay_env, db):
    fake = relay_env.slack
    parent = mention_envelope(fake.state, "U0DOUBT03", "C0DOUBT03", "plan my day")["event"]["ts"]
    inbox_id, key, payload = _part(db, slack, _slack_msg("C0DOUBT03", parent), "in the thread")
    slack.prepare(payload, key)()
    _died_sending(db, inbox_id, 30)
    assert outbox.deliver_all("slack", inbox_id, ModuleSender(slack)).settled == 1
    assert [c["text"] for c in fake.sent("C0DOUBT03")] == ["in the thread"]


def test_slack_a_send_still_landing_is_looked_up_later(relay_env, db):
    inbox_id, _, _ = _part(db, slack, _slack_msg("D0DOUBT04"), "just now")
    _died_sending(db, inbox_id, 0)
    with pytest.raises(StatusPending) as raised:
        outbox.deliver_all("slack", inbox_id, ModuleSender(slack))
    assert 0 < raised.value.retry_after <= slack.SETTLE_S
    assert _row(db, inbox_id)["status"] == "sending" and relay_env.slack.sent("D0DOUBT04") == []


def _wa_msg(fake: Any, wa_id: str) -> Incoming:
    fake.notification(wa_id, "hello")  # the user wrote: the fake's 24-hour window is open
    return Incoming("whatsapp", wa_id, wa_id, "hello", sent_at=time.time(), reply_to={"to": wa_id, "message_id": "x"})


def _status(client: Any, fake: Any, message_id: str, to: str, status: str, key: str) -> Any:
    body = json.dumps(status_notification(fake.state, message_id, to, status, key)).encode()
    return client.post(WA_PATH, data=body, headers={"Content-Type": "application/json",
                                                    "X-Hub-Signature-256": fake.signature(body)})


def test_whatsapp_status_webhooks_are_kept_on_the_part_in_order(client, relay_env, db):
    fake = relay_env.whatsapp
    inbox_id, key, payload = _part(db, whatsapp, _wa_msg(fake, "15557100001"), "status please")
    sent = whatsapp.prepare(payload, key)()
    (call,) = fake.sent("15557100001")
    assert call["biz_opaque_callback_data"] == key
    for status in ("delivered", "sent", "delivered"):  # out of order, and redelivered
        resp = _status(client, fake, sent["id"], "15557100001", status, key)
        assert resp.status_code == 200 and resp.get_json() == {"received": 0, "recorded": 0}
    row = _row(db, inbox_id)
    assert row["platform_status"] == "delivered" and row["platform_message_id"] == sent["id"]
    body = json.dumps(status_notification(fake.state, sent["id"], "15557100001", "read", key)).encode()
    forged = client.post(WA_PATH, data=body, headers={"Content-Type": "application/json",
                                                      "X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert forged.status_code == 401 and _row(db, inbox_id)["platform_status"] == "delivered"


def test_whatsapp_a_part_meta_reported_is_settled_without_sending(client, relay_env, db):
    fake = relay_env.whatsapp
    inbox_id, key, payload = _part(db, whatsapp, _wa_msg(fake, "15557100002"), "made it")
    sent = whatsapp.prepare(payload, key)()  # Meta took it; the job died before recording that
    _died_sending(db, inbox_id, 5)
    assert _status(client, fake, sent["id"], "15557100002", "sent", key).status_code == 200
    report = outbox.deliver_all("whatsapp", inbox_id, ModuleSender(whatsapp))
    assert (report.settled, report.sent) == (1, 0)
    assert len(fake.sent("15557100002")) == 1
    assert _row(db, inbox_id)["response"] == {"id": sent["id"]}


def test_whatsapp_no_status_waits_then_sends_once(relay_env, db):
    fake = relay_env.whatsapp
    inbox_id, key, _ = _part(db, whatsapp, _wa_msg(fake, "15557100003"), "lost before Meta")
    _died_sending(db, inbox_id, 5)
    with pytest.raises(StatusPending) as raised:  # a status may still come: the job looks again later
        outbox.deliver_all("whatsapp", inbox_id, ModuleSender(whatsapp))
    assert 100 < raised.value.retry_after <= 120
    assert _row(db, inbox_id)["status"] == "sending" and fake.sent("15557100003") == []
    with overridden({"WHATSAPP_DOUBT_WAIT_S": "4"}):  # the wait is over, and no status came
        report = outbox.deliver_all("whatsapp", inbox_id, ModuleSender(whatsapp))
    assert report.sent == 1
    (call,) = fake.sent("15557100003")
    assert call["text"]["body"] == "lost before Meta" and call["biz_opaque_callback_data"] == key


def test_telegram_a_part_in_doubt_is_never_sent_twice(relay_env, db):
    msg = Incoming("telegram", "7100", "7100", "hi", reply_to={"chat_id": 7100})
    inbox_id, _, _ = _part(db, telegram, msg, "maybe delivered")
    _died_sending(db, inbox_id, 30)
    report = outbox.deliver_all("telegram", inbox_id, ModuleSender(telegram))
    assert (report.in_doubt, report.sent) == (1, 0)
    row = _row(db, inbox_id)
    assert row["status"] == "failed" and row["error"].startswith("in doubt")
    assert relay_env.telegram.sent(7100) == []
