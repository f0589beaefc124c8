"""Chaos: messages on all four relays to one agent while real `openagents worker` processes are
SIGKILLed at random moments and restarted → every message is answered, no part is ever sent twice,
and every turn is settled with the ledger still summing to the balance.

N is 40 here (RELAY_CHAOS_MESSAGES sets it; the full run uses 1,000). A kill during a send leaves the
part `sending` — in doubt. Discord deduplicates a resend, Slack's history and WhatsApp's status
webhooks say whether it arrived, so on those three every message is answered exactly once. Telegram
cannot tell (no idempotency key, no history for bots): its in-doubt parts are never re-sent, so the
assertion allows exactly those Telegram parts — and only those — to be missing. The figures printed:
how many parts were found in doubt per relay (from the workers' logs) and how each was settled.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from typing import Any

from fly.agent.bridge.runtime.offline import offline_answer
from shared.config import overridden
from shared.relays.split import split
from tests.integration.lifecycle.conftest import WorkerProcess
from tests.integration.relays.conftest import BOT_USERNAME, drain_relays
from tests.support.billing_helpers import assert_ledger_matches_balance

N = int(os.environ.get("RELAY_CHAOS_MESSAGES", "40"))
KILLS = int(os.environ.get("RELAY_CHAOS_KILLS", "6"))
LIMITS = {"telegram": 4096, "slack": 40000, "whatsapp": 4096, "discord": 2000}
TG_USER, SLACK_USER, WA_USER, DC_USER = 7001, "U0CHAOS001", "15557770001", "1700000000000000001"


def _expected(text: str) -> str:
    import re

    m = re.search(r"TOKENS=(\d+)", text)
    return "".join(offline_answer(text, int(m.group(1)) if m else 24))


def _link_all(agent: Any, db: Any) -> None:
    f = agent.stack.fakes
    f.telegram.send_user_message(TG_USER, f"/start {agent.link('telegram')['token']}")
    f.slack.command(SLACK_USER, "D0CHAOS001", f"link {agent.link('slack')['token']}")
    f.whatsapp.send_text(WA_USER, f"link {agent.link('whatsapp')['token']}")
    f.discord.command(DC_USER, "link", {"token": agent.link("discord")["token"]})
    drain_relays(db)
    with db.service() as tx:
        linked = tx.sql("select relay::text as relay from relay_connections where instance_id = %(i)s",
                        {"i": agent.instance_id}).fetchall()
    assert sorted(r["relay"] for r in linked) == ["discord", "slack", "telegram", "whatsapp"]
    f.reset()


def _send(agent: Any, i: int) -> tuple[str, str, dict[str, Any]]:
    """Message i on its relay and chat; (relay, the text the agent gets, the delivery's key)."""
    f = agent.stack.fakes
    relay = ("telegram", "slack", "whatsapp", "discord")[i % 4]
    long = i % 8 == 5
    text = f"chaos message {i}" + (" TOKENS=700" if long else "")
    two = (i // 4) % 2 == 1
    if relay == "telegram":
        if two:
            update, status = f.telegram.send_user_message(TG_USER, f"@{BOT_USERNAME} {text}", chat_id=-1007001,
                                                          chat_type="group")
        else:
            update, status = f.telegram.send_user_message(TG_USER, text)
        assert status == 200
        return relay, text, {"update_id": update["update_id"]}
    if relay == "slack":
        envelope, resp = (f.slack.mention(SLACK_USER, "C0CHAOS001", text) if two else f.slack.send_dm(SLACK_USER, text))
        assert resp.status_code == 200
        return relay, text, {"event_id": envelope["event_id"]}
    if relay == "whatsapp":
        _, resp = f.whatsapp.send_text(WA_USER, text)
        assert resp.status_code == 200
        return relay, text, {}
    body, resp = f.discord.command(DC_USER, "ask", {"message": text},
                                   channel_id="1400000000000000002" if two else "1400000000000000001")
    assert resp.status_code == 200
    return relay, text, {"token": body["token"]}


def _sent_texts(agent: Any) -> dict[str, Counter[str]]:
    f = agent.stack.fakes
    originals: dict[str, str] = {}
    for c in f.discord.sent("edit_original"):  # an edit replaces: the reply is the last edit of each
        originals[c["token"]] = c["content"]
    return {
        "telegram": Counter(c["text"] for c in f.telegram.sent()),
        "slack": Counter(c["text"] for c in f.slack.sent()),
        "whatsapp": Counter(c["text"]["body"] for c in f.whatsapp.sent(kind="text")),
        "discord": Counter([*originals.values(), *(c["content"] for c in f.discord.sent("followup"))]),
        "discord_edits": Counter(c["token"] for c in f.discord.sent("edit_original")),
    }


def _unfinished(db: Any, since_id: int) -> int:
    with db.service() as tx:
        return tx.sql("select count(*) as n from relay_inbox where id > %(s)s and status not in ('done', 'ignored')",
                      {"s": since_id}).fetchone()["n"]


def _doubts(tmp_path: Any) -> dict[str, Counter[str]]:
    """Parts found in doubt, by relay and how they were settled, from the workers' JSON logs."""
    out: dict[str, Counter[str]] = {r: Counter() for r in LIMITS}
    for path in tmp_path.glob("worker-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            msg = entry.get("msg", "") if isinstance(entry, dict) else ""
            if msg.startswith("relay reply part in doubt") and entry.get("relay") in out:
                out[entry["relay"]][msg.removeprefix("relay reply part in doubt").strip(" ,") or "?"] += 1
    return out


def test_every_message_is_answered_once_while_workers_are_killed(agent, db, tmp_path):
    # Workers are started inside: a lost WhatsApp send is known after a short wait for its status here.
    with overridden({"WHATSAPP_DOUBT_WAIT_S": "3"}):
        _run(agent, db, tmp_path)


def _run(agent: Any, db: Any, tmp_path: Any) -> None:
    _link_all(agent, db)
    with db.service() as tx:
        since = tx.sql("select coalesce(max(id), 0) as m from relay_inbox").fetchone()["m"]
    rng = random.Random(12)
    sent = [_send(agent, i) for i in range(N)]
    kills = 0
    started = time.monotonic()
    worker = WorkerProcess(tmp_path / "worker-0.log", queues=("relays",), concurrency=4)
    try:
        while kills < KILLS and _unfinished(db, since):
            # Kill while it works: once it has finished something since it started, at a random moment.
            left = _unfinished(db, since)
            wait_until = time.monotonic() + 20
            while _unfinished(db, since) == left and time.monotonic() < wait_until:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.5))
            worker.kill()
            kills += 1
            time.sleep(1.7)  # past WORKER_STALLED_AFTER_S: the next worker takes the killed one's jobs back
            worker = WorkerProcess(tmp_path / f"worker-{kills}.log", queues=("relays",), concurrency=4)
        deadline = time.monotonic() + max(180, N)  # the full run (1,000) drains for longer
        while _unfinished(db, since):
            assert time.monotonic() < deadline, worker.output()[-3000:]
            time.sleep(0.2)
    finally:
        worker.stop()
    elapsed = time.monotonic() - started

    got = _sent_texts(agent)
    with db.service() as tx:
        doubt = tx.sql("select relay::text as relay, payload from relay_outbox where inbox_id > %(s)s"
                       " and error like 'in doubt%%'", {"s": since}).fetchall()
        turns = tx.sql("select t.status::text as status, t.settled_at from relay_inbox r join turns t"
                       " on t.session_id in (select id from sessions where instance_id = %(i)s)"
                       " where r.id > %(s)s and t.id = r.turn_id", {"s": since, "i": agent.instance_id}).fetchall()
        interrupted = tx.sql("select count(*) as n from turns where instance_id = %(i)s and status = 'interrupted'",
                             {"i": agent.instance_id}).fetchone()["n"]
        unsettled = tx.sql("select count(*) as n from turns where instance_id = %(i)s and settled_at is null",
                           {"i": agent.instance_id}).fetchone()["n"]
    in_doubt = [(d["relay"], d["payload"]) for d in doubt]
    assert all(relay == "telegram" for relay, _ in in_doubt), in_doubt  # the others settle every doubt
    doubt_texts = Counter(str(p.get("text")) for _, p in in_doubt)
    answered = 0
    missing: Counter[str] = Counter()
    for relay, text, _ in sent:
        parts = split(_expected(text), LIMITS[relay])
        for part in parts:
            count = got[relay][part]
            assert count <= 1, f"{relay} sent a part twice: {part[:60]}"
            if count == 0:
                missing[relay] += 1
                assert relay == "telegram", f"{relay} never sent a part: {part[:60]}"
                assert doubt_texts[part] > 0, f"telegram part missing but not in doubt: {part[:60]}"
        answered += all(got[relay][p] == 1 for p in parts)
    found = _doubts(tmp_path)
    per_relay = "; ".join(f"{r} {sum(c.values())}" + (f" ({', '.join(f'{k} {v}' for k, v in c.items())})" if c else "")
                          for r, c in found.items())
    print(f"\nrelay chaos: {N} messages, {kills} worker kills, {elapsed:.1f} s; answered {answered}/{N};"
          f" parts found in doubt: {per_relay}; left in doubt (telegram) {len(doubt)}, missing {sum(missing.values())};"
          f" turns interrupted by kills {interrupted}")
    # Each kill can catch up to `concurrency` sends mid-exchange.
    assert sum(missing.values()) <= len(doubt) <= 4 * kills, (missing, len(doubt), in_doubt)
    assert answered >= N - len(doubt)
    assert all(t["status"] == "done" and t["settled_at"] is not None for t in turns), turns
    assert unsettled == 0
    assert_ledger_matches_balance(db, agent.user.id)
