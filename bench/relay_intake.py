"""`relay-intake`: Telegram updates at a steady rate for a while, with workers answering them as they
come (ARCHITECTURE §5 "Relay message"; issue 14 item 4).

The whole path is real: the local chat stack (Fly emulator with real agent machines on the offline
runtime, the SSE gateway, the API in its own process) and the Telegram fake. Updates are made by the
fake and posted to `/functions/v1/telegram-webhook` with the webhook's secret-token header, on
schedule from a pool of senders, as Telegram does. CHATS linked chats take turns, so the per-chat
lock (a chat's messages are answered in order) spreads over the chats the way many users would. An
`openagents worker` process (`relays` queue, BENCH_RELAY_CONCURRENCY slots) runs the `relay_process`
jobs throughout: route → the bridge's turn through the gateway → reply → `sendMessage` to the fake →
settle. Printed: updates/s offered and accepted (HTTP 200), intake latency, the backlog (recorded
but not answered) once a second, how long the backlog took to drain after the last update, and the
sustained answer rate. Headline: answered ÷ offered rate over the run, drain included (goal ≥ 0.9:
the workers keep up with intake).

`BENCH_RELAY_RATE` (updates/s; full 20, quick 5), `BENCH_RELAY_SECONDS` (full 30, quick 4),
`BENCH_RELAY_CONCURRENCY` (worker slots, default 8). Figures on a shared 2-core machine include the
agent machines', gateway's and API's CPU.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.registry import Context, Goal, Result, benchmark, verdict

GOAL = Goal(">=", 0.9)
CHATS = 20
SENDERS = 16  # webhook deliveries in flight at most
BOT_USERNAME = "bench_relay_bot"
EMAIL = "bench-relay-{tag}@bench.openagents.invalid"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _backlog(db: Any, since_id: int) -> int:
    with db.service() as tx:
        return int(tx.sql("select count(*) as n from relay_inbox where id > %(s)s and relay = 'telegram'"
                          " and status not in ('done', 'ignored')", {"s": since_id}).fetchone()["n"])


def _worker(env: dict[str, str], concurrency: int, log_path: Path) -> subprocess.Popen[bytes]:
    """`openagents worker` on the `relays` queue in its own process, as workers run on Fly."""
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed with it
    return subprocess.Popen([sys.executable, "-m", "cli.main", "worker", "--concurrency", str(concurrency),
                             "--queue", "relays"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            cwd=str(Path(__file__).resolve().parents[1]))


@benchmark("relay-intake", "Telegram updates at a steady rate with workers answering: accepted/s, backlog, drain")
def relay_intake(ctx: Context) -> Result:
    import logging

    from devstack.chat_stack import drain_jobs, start_local_chat
    from devstack.emulators.telegram import TelegramFake
    from shared.auth import User
    from shared.config import overridden
    from shared.data import migrate
    from shared.lifecycle.instances import hire
    from shared.lifecycle.models import HireRequest
    from shared.relays import telegram

    rate = _env_int("BENCH_RELAY_RATE", 20 if ctx.full else 5)
    seconds = _env_int("BENCH_RELAY_SECONDS", 30 if ctx.full else 4)
    concurrency = _env_int("BENCH_RELAY_CONCURRENCY", 8)
    bdb = ctx.database()
    tag = uuid.uuid4().hex[:10]
    tmp = Path(tempfile.mkdtemp(prefix="oa-bench-relay-"))
    tg_token = f"7000000002:{secrets.token_urlsafe(26)}"
    tg_secret = secrets.token_urlsafe(32)
    quiet = [logging.getLogger(n) for n in ("openagents.relays", "openagents.http", "openagents.chat", "procrastinate",
                                             "openagents.jobs", "openagents.billing", "openagents.lifecycle")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.WARNING)
    fake = TelegramFake(token=tg_token, username=BOT_USERNAME, secret=tg_secret).start()
    # The intake function (the API) and the worker run in processes of their own, as they are deployed
    # (Vercel, Fly): this one only sends updates and watches the backlog.
    settings = {"DATABASE_URL": bdb.url, "DATABASE_DIRECT_URL": "", "OPENAGENTS_ENV": "test", "LOG_LEVEL": "WARNING",
                "SUPABASE_JWT_SECRET": os.environ.get("SUPABASE_JWT_SECRET") or "bench-jwt-secret-0123456789abcdef",
                "TELEGRAM_BOT_TOKEN": tg_token, "TELEGRAM_BOT_USERNAME": BOT_USERNAME,
                "TELEGRAM_WEBHOOK_SECRET": tg_secret, "TELEGRAM_API_BASE": fake.url,
                "DATABASE_POOL_MAX": str(2 * concurrency + 4)}
    try:
        local = start_local_chat(tmp, fly_token="bench-fly-token", machine_env={
            "OFFLINE_TOKEN_INTERVAL_MS": "2", "OFFLINE_TOKENS": "24", "BRIDGE_HEARTBEAT_S": "5"}, grace_s=1,
            api_process_env={**os.environ, **settings})
    except BaseException:
        fake.stop()
        raise
    user_id = None
    worker: subprocess.Popen[bytes] | None = None
    try:
        env = {**local.env, **settings}
        with overridden(env), bdb.as_default() as db:
            migrate.seed(bdb.url, log=lambda *_: None)  # the demo agents, published from their bundles
            with db.service() as tx:
                user_id = str(tx.sql("insert into auth.users (email) values (%(e)s) returning id",
                                     {"e": EMAIL.format(tag=tag)}).fetchone()["id"])
            user = User(user_id, None, {"sub": user_id, "role": "authenticated", "aud": "authenticated"})
            instance, _ = hire(user, HireRequest(agent="daily-planner"))
            drain_jobs(db, ["lifecycle"], timeout=120)
            base_chat = 7_100_000_000 + secrets.randbelow(100_000_000)
            chats = [base_chat + i for i in range(CHATS)]
            with db.service() as tx:
                status = tx.sql("select status::text as s from agent_instances where id = %(i)s",
                                {"i": str(instance.id)}).fetchone()["s"]
                assert status == "running", f"the bench agent is {status}"
                tx.sql("update credit_balances set topup_credits = 10000000 where user_id = %(u)s", {"u": user_id})
                tx.sql("insert into relay_connections (user_id, instance_id, relay, external_user_id, external_chat_id)"
                       " select %(u)s, %(i)s, 'telegram', c::text, c::text from unnest(%(c)s::bigint[]) c",
                       {"u": user_id, "i": str(instance.id), "c": chats})
                since = int(tx.sql("select coalesce(max(id), 0) as m from relay_inbox").fetchone()["m"])
            fake.state.webhook_url = f"{local.base_url}/functions/v1/telegram-webhook"
            worker = _worker({**os.environ, **env}, concurrency, tmp / "worker.log")
            # Warm the path (the worker's start, imports, pools, the gateway's first replay) before the
            # clock starts: one message per chat, answered.
            for chat in chats:
                fake.send_user_message(chat, "warm up")
            deadline = time.monotonic() + 120
            while _backlog(db, since) and time.monotonic() < deadline:
                time.sleep(0.1)
            warmed = len(fake.sent())
            since = _backlog_base(db)
            bytes_before = _bytes(db)

            latencies: list[float] = []
            statuses: dict[int, int] = {}
            backlog: list[tuple[float, int]] = []
            lock = threading.Lock()
            total = rate * seconds

            # Signed as the fake signs (the secret-token header), through one pooled client: a client per
            # update would spend the sender's CPU on TLS set-up, not measure intake.
            webhook = httpx.Client(trust_env=False, timeout=60,
                                   limits=httpx.Limits(max_connections=SENDERS, max_keepalive_connections=SENDERS))
            headers = {telegram.SECRET_HEADER: tg_secret, "Content-Type": "application/json"}

            def post(i: int) -> None:
                body = json.dumps(fake.state.new_update(user_id=chats[i % CHATS], text=f"bench relay message {i}"))
                t = time.perf_counter()
                code = webhook.post(fake.state.webhook_url or "", content=body, headers=headers).status_code
                with lock:
                    latencies.append(time.perf_counter() - t)
                    statuses[code] = statuses.get(code, 0) + 1

            # Updates leave on schedule whatever intake's latency: Telegram does not wait for one
            # webhook call to finish before making the next (for different chats).
            t0 = time.perf_counter()
            next_sample = 0.0
            with ThreadPoolExecutor(SENDERS) as senders:
                for i in range(total):
                    due = t0 + i / rate
                    while (now := time.perf_counter()) < due:
                        if now - t0 >= next_sample:
                            backlog.append((now - t0, _backlog(db, since)))
                            next_sample += 1.0
                        time.sleep(min(0.005, due - now))
                    senders.submit(post, i)
                offered_s = time.perf_counter() - t0 + 1 / rate  # the last update's interval included
            sent_s = time.perf_counter() - t0
            webhook.close()
            while True:
                left = _backlog(db, since)
                now = time.perf_counter() - t0
                if now >= next_sample:
                    backlog.append((now, left))
                    next_sample += 1.0
                if not left or now > sent_s + 300:
                    break
                time.sleep(0.05)
            done_s = time.perf_counter() - t0
            worker.terminate()
            worker.wait(30)
            worker = None
            with db.service() as tx:
                outcome = tx.sql("select status, count(*) as n from relay_inbox where id > %(s)s and relay = 'telegram'"
                                 " group by status", {"s": since}).fetchall()
            answered = len(fake.sent()) - warmed
            grown = _bytes(db) - bytes_before
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            worker.wait(30)
        for q, lv in zip(quiet, levels, strict=True):
            q.setLevel(lv)
        fake.stop()
        local.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        if user_id is not None:
            print(_cleanup(bdb.db, user_id))

    accepted = statuses.get(200, 0)
    by_status = {r["status"]: r["n"] for r in outcome}
    drain = done_s - sent_s
    ratio = (accepted / done_s) / rate if done_s else 0.0
    lat = sorted(latencies)
    print(f"{total} signed Telegram updates at {rate}/s for {seconds} s over {CHATS} chats; worker {concurrency} slots")
    print(f"  offered {total / offered_s:.1f}/s, accepted {accepted / sent_s:.1f}/s (HTTP {dict(sorted(statuses.items()))});"
          f" intake p50 {statistics.median(lat) * 1000:.1f} ms, p99 {lat[int(0.99 * (len(lat) - 1))] * 1000:.1f} ms")
    print("  backlog (recorded, not yet answered) each second: "
          + " ".join(f"{n}" for _, n in backlog))
    print(f"  drained {drain:.1f} s after the last update; answered {by_status.get('done', 0)} of {accepted}"
          f" ({answered} replies sent), rows {by_status}")
    print(f"  sustained answer rate {by_status.get('done', 0) / done_s:.1f}/s over {done_s:.1f} s;"
          f" Postgres grew {grown / 1024:.0f} KiB ({grown / max(1, by_status.get('done', 0)):.0f} bytes per answered"
          f" message: {', '.join(GROWTH_TABLES)})")
    print(f"answered ÷ offered rate {ratio:.2f}  goal {GOAL}  {verdict(GOAL, ratio)}")
    return Result("relay-intake", GOAL, ratio=ratio)


GROWTH_TABLES = ("relay_inbox", "relay_outbox", "sessions", "messages", "turns", "turn_events", "usage_events",
                 "credit_transactions")


def _bytes(db: Any) -> int:
    """What a relayed message leaves behind: the tables it writes, with their indexes and TOAST."""
    with db.service() as tx:
        return int(tx.sql("select sum(pg_total_relation_size(('public.' || t)::regclass))::bigint as b"
                          " from unnest(%(t)s::text[]) t", {"t": list(GROWTH_TABLES)}).fetchone()["b"])


def _backlog_base(db: Any) -> int:
    with db.service() as tx:
        return int(tx.sql("select coalesce(max(id), 0) as m from relay_inbox").fetchone()["m"])


def _cleanup(db: Any, user_id: str) -> str:
    try:
        with db.connection() as conn, conn.transaction():
            conn.execute("delete from procrastinate.procrastinate_jobs where lock in (select 'instance:' || id from"
                         " public.agent_instances where user_id = %s)", (user_id,))
            conn.execute("delete from public.relay_inbox where chat_id in (select external_chat_id from"
                         " public.relay_connections where user_id = %s)", (user_id,))
            conn.execute("delete from vault.secrets where name in (select 'instance-gateway:' || id from"
                         " public.agent_instances where user_id = %s)", (user_id,))
            conn.execute("delete from public.agent_instances where user_id = %s", (user_id,))
            conn.execute("delete from auth.users where id = %s", (user_id,))
    except Exception as exc:
        return f"could not remove the benchmark rows ({exc.__class__.__name__}: {exc}); user {user_id}"
    return "removed the benchmark rows"
