"""Telegram: the webhook's verification and dedupe (in-process), then link → message → the agent's
answer over the real chat path, long replies, rate limits and a sleeping agent."""

from __future__ import annotations

import json
import time

from telegram import Update

from fly.agent.bridge.runtime.offline import offline_answer
from shared.relays.split import split
from tests.integration.relays.conftest import TG_SECRET, drain_relays, inbox, relay_jobs, wait_for
from tests.support.harness import assert_problem

PATH = "/functions/v1/telegram-webhook"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET, "Content-Type": "application/json"}


def _post(client, update, headers=HEADERS):
    return client.post(PATH, data=json.dumps(update) if not isinstance(update, (bytes, str)) else update,
                       headers=headers)


def test_an_update_is_recorded_and_enqueued_once(client, relay_env, db):
    update = relay_env.telegram.state.new_update(user_id=501, text="hello there")
    assert Update.de_json(update, None).message.text == "hello there"  # shaped as Telegram sends it
    first = _post(client, update)
    assert first.status_code == 200 and first.get_json() == {"received": 1, "recorded": 1}
    again = _post(client, update)  # Telegram redelivers after a timeout
    assert again.status_code == 200 and again.get_json() == {"received": 1, "recorded": 0}
    rows = [r for r in inbox(db, "telegram") if r["platform_id"] == str(update["update_id"])]
    assert len(rows) == 1 and rows[0]["chat_id"] == "501" and rows[0]["status"] == "queued"
    jobs = [j for j in relay_jobs(db) if j["args"] == {"inbox_id": rows[0]["id"]}]
    assert len(jobs) == 1 and jobs[0]["lock"] == "relay-chat:telegram:501"


def test_a_forged_or_missing_secret_is_refused_and_nothing_is_stored(client, relay_env, db):
    update = relay_env.telegram.state.new_update(user_id=502, text="forged")
    before = len(inbox(db))
    assert_problem(_post(client, update, {**HEADERS, "X-Telegram-Bot-Api-Secret-Token": "wrong"}), 401)
    assert_problem(_post(client, update, {"Content-Type": "application/json"}), 401)
    assert len(inbox(db)) == before


def test_stale_unknown_and_malformed_updates(client, relay_env, db):
    before = len(inbox(db))
    old = relay_env.telegram.state.new_update(user_id=503, text="from last week", date=int(time.time()) - 3 * 86400)
    assert _post(client, old).get_json() == {"received": 0, "recorded": 0}  # a replay: no genuine delivery is that old
    edited = {"update_id": 9_000_001, "edited_message": old["message"]}
    callback = {"update_id": 9_000_002, "callback_query": {"id": "1", "from": old["message"]["from"], "chat_instance": "x",
                                                           "data": "x"}}
    member = {"update_id": 9_000_003, "my_chat_member": {"chat": old["message"]["chat"], "from": old["message"]["from"],
                                                          "date": int(time.time()), "old_chat_member": {"status": "member", "user": old["message"]["from"]},
                                                          "new_chat_member": {"status": "kicked", "user": old["message"]["from"], "until_date": 0}}}
    for update in (edited, callback, member):
        Update.de_json(update, None)  # each a real Telegram shape
        resp = _post(client, update)
        assert resp.status_code == 200 and resp.get_json()["recorded"] == 0
    group = relay_env.telegram.state.new_update(user_id=504, chat_id=-100777, chat_type="supergroup", text="chatter")
    assert _post(client, group).get_json()["recorded"] == 0  # a group message not for the bot
    assert_problem(_post(client, b"{not json"), 400)
    assert_problem(_post(client, {"message": {}}), 400)
    assert_problem(_post(client, {"update_id": True}), 400)
    assert len(inbox(db)) == before


def test_an_oversize_body_is_refused(client, relay_env, db):
    update = relay_env.telegram.state.new_update(user_id=505, text="x" * (300 * 1024))
    before = len(inbox(db))
    assert_problem(_post(client, update), 413)
    assert len(inbox(db)) == before


def test_split_cuts_on_paragraphs_then_sentences():
    para = "First paragraph sentence one. Sentence two.\n\nSecond paragraph here."
    assert split(para, 50) == ["First paragraph sentence one. Sentence two.", "Second paragraph here."]
    sentences = "Alpha beta gamma. Delta epsilon zeta. Eta theta iota."
    assert split(sentences, 40) == ["Alpha beta gamma. Delta epsilon zeta.", "Eta theta iota."]
    words = " ".join(["word"] * 30)
    assert all(len(p) <= 23 for p in split(words, 23)) and " ".join(split(words, 23)) == words
    assert split("x" * 10, 4) == ["xxxx", "xxxx", "xx"]
    assert split("   ", 10) == []


# --- over the real chat path ------------------------------------------------------------------------

def _answer(message: str, tokens: int = 24) -> str:
    return "".join(offline_answer(message, tokens))


def _link(agent, db, fake, user_id: int) -> None:
    link = agent.link("telegram")
    assert link["url"].startswith("https://t.me/openagents_test_bot?start=")
    token = link["url"].rsplit("=", 1)[1]
    assert token == link["token"] and 16 <= len(token) <= 64
    _, status = fake.send_user_message(user_id, f"/start {token}")
    assert status == 200
    drain_relays(db)
    (confirm,) = fake.sent(chat_id=user_id)
    assert confirm["text"].startswith("Linked!")
    fake.reset()


def test_link_then_chat_reaches_the_agent(agent, db):
    fake = agent.stack.fakes.telegram
    _, status = fake.send_user_message(601, "hello before linking")
    assert status == 200
    drain_relays(db)
    (prompt,) = fake.sent(chat_id=601)
    assert "isn't linked" in prompt["text"]
    fake.reset()
    _link(agent, db, fake, 601)
    conns = agent.client.get(f"/api/instances/{agent.instance_id}/relays", token=agent.user.token).get_json()["items"]
    assert [(c["relay"], c["external_user_id"]) for c in conns] == [("telegram", "601")]

    _, status = fake.send_user_message(601, "What is on my calendar?")
    assert status == 200
    drain_relays(db)
    (reply,) = fake.sent(chat_id=601)
    assert reply["text"] == _answer("What is on my calendar?")
    assert fake.sent(chat_id=601, method="sendChatAction")[0]["action"] == "typing"
    with db.service() as tx:
        turn = tx.sql("select t.status::text as status, t.settled_at, s.channel, s.external_chat_id, m.content"
                      " from relay_inbox r join turns t on t.id = r.turn_id join sessions s on s.id = t.session_id"
                      " join messages m on m.id = t.assistant_message_id where r.payload->'message'->>'text' = %(t)s",
                      {"t": "What is on my calendar?"}).fetchone()
    assert turn["status"] == "done" and turn["settled_at"] is not None
    assert (turn["channel"], turn["external_chat_id"], turn["content"]) == ("telegram", "601", reply["text"])


def test_a_long_reply_is_split_at_telegrams_limit(agent, db):
    fake = agent.stack.fakes.telegram
    _link(agent, db, fake, 602)
    message = "Tell me everything TOKENS=1500"
    fake.send_user_message(602, message)
    drain_relays(db)
    parts = [c["text"] for c in fake.sent(chat_id=602)]
    expected = _answer(message, 1500)
    assert len(expected) > 4096 and len(parts) == len(split(expected, 4096)) >= 2
    assert all(len(p) <= 4096 for p in parts) and " ".join(parts) == expected


def test_flood_control_is_honoured(agent, db):
    fake = agent.stack.fakes.telegram
    _link(agent, db, fake, 603)
    fake.flood(2, retry_after=1)
    started = time.monotonic()
    fake.send_user_message(603, "slow down please")
    drain_relays(db)
    assert len(fake.refused()) == 2
    (reply,) = fake.sent(chat_id=603)
    assert reply["text"] == _answer("slow down please")
    assert time.monotonic() - started >= 2.0  # it waited Telegram's retry_after each time


def test_a_message_to_a_suspended_agent_wakes_it(agent, db):
    from devstack.chat_stack import drain_jobs

    fake = agent.stack.fakes.telegram
    _link(agent, db, fake, 604)
    resp = agent.client.post(f"/api/instances/{agent.instance_id}/suspend", token=agent.user.token)
    assert resp.status_code == 202, resp.get_data(as_text=True)
    drain_jobs(db, ["lifecycle"])
    status = lambda: agent.client.get(f"/api/instances/{agent.instance_id}", token=agent.user.token).get_json()["status"]  # noqa: E731
    assert status() == "suspended"
    fake.send_user_message(604, "are you awake?")
    drain_relays(db)
    (reply,) = fake.sent(chat_id=604)
    assert reply["text"] == _answer("are you awake?")
    assert wait_for(lambda: status() == "running", what="running")
