"""`relay-intake`: Telegram updates at a steady rate for a while, with workers answering them as they
come (ARCHITECTURE §5 "Relay message"; issue 14 item 4).

The whole path is real: the local chat stack (Fly emulator with real agent machines on the offline
runtime, the SSE gateway, the API in its own process) and the Telegram fake. Updates are made by the
fake and posted to `/functions/v1/telegram-webhook` with the webhook's secret-token header, on
schedule from a pool of senders, as Telegram does. The linked chats take turns, so the per-chat
lock (a chat's messages are answered in order) spreads over them the way many users would; there are
enough of them (at least CHATS) that no chat gets its next message before its last is answered, as
with people typing. `openagents worker` processes (`relays` queue, BENCH_RELAY_CONCURRENCY slots each)
run the `relay_process` jobs throughout: route → the bridge's turn through the gateway → reply →
`sendMessage` to the fake → settle. As many workers start as the offered rate needs: rate × the
slot-seconds a message takes (the agent's answer, BENCH_RELAY_TOKENS × BENCH_RELAY_TOKEN_MS, plus
OVERHEAD_S of our own) × HEADROOM, over the slots per worker; a warm-up round then measures what a
message really takes of a slot on this machine now, and more start if that needs them (a loaded
machine stretches every turn). `BENCH_RELAY_WORKERS` sets the count and skips the measuring.
Printed: the workers and slots, updates/s offered and accepted (HTTP 200), intake latency, the backlog
(recorded but not answered) once a second, how long it took to drain after the last update, the
sustained answer rate, each message's time from intake to answered, and the CPU each part used per
message. Headline: answered ÷ offered rate over the run, drain included (goal ≥ 0.9: the workers keep
up with intake and the backlog drains).

`BENCH_RELAY_RATE` (updates/s; full 10, quick 5), `BENCH_RELAY_SECONDS` (full 30, quick 4),
`BENCH_RELAY_CONCURRENCY` (slots per worker, default 8), `BENCH_RELAY_WORKERS` (default: derived),
`BENCH_RELAY_TOKENS` / `BENCH_RELAY_TOKEN_MS` (the agent's answer: full 100 tokens 10 ms apart, one
second; quick 24 tokens 2 ms apart), `BENCH_RELAY_CHATS` (default: derived, as above).
Figures on a shared 2-core machine include the agent machine's, gateway's and API's CPU.
"""

from __future__ import annotations

import json
import math
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
CHATS = 20  # at least
# Our own slot-seconds per message besides the agent's answer (route, turn, gateway, reply, settle):
# intake-to-answered p50 at 10/s on an idle 2-core machine was 0.1-0.2 s; this leaves room for load.
OVERHEAD_S = 0.3
HEADROOM = 1.5  # slots beyond the average need, for bursts and a loaded machine
PRE_TURN_S = 0.05  # a job's work before its turn opens (take the row, route, session, hold): measured ~20 ms
MAX_WORKERS = 8
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


def plan(rate: int, concurrency: int, answer_s: float, workers: int | None) -> tuple[int, int, float]:
    """(worker processes, linked chats, slot-seconds per message assumed) for `rate` updates/s."""
    per_message = answer_s + OVERHEAD_S
    if workers is None:
        workers = max(1, math.ceil(rate * per_message * HEADROOM / concurrency))
    # A chat answers one message at a time: enough chats that each gets its next message only after
    # about four answers' time (a loaded machine stretches an answer to twice the estimate).
    chats = max(CHATS, math.ceil(rate * per_message * 4))
    return workers, chats, per_message


def _cpu_s(pid: int) -> float:
    """user + system CPU of a process so far, its waited-for children included (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _postmaster(db: Any) -> int | None:
    """The throwaway cluster's postmaster (it runs here): the parent of our backend."""
    with db.service() as tx:
        backend = int(tx.sql("select pg_backend_pid() as p").fetchone()["p"])
    try:
        return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def _postgres_cpu_s(postmaster: int | None) -> float:
    """The cluster's CPU so far: the postmaster with its exited backends, and the live ones.
    Approximate: a backend ending mid-run moves its CPU into the first term."""
    if postmaster is None:
        return 0.0
    return _cpu_s(postmaster) + sum(_own_cpu_s(p) for p in _descendants(postmaster))


def _own_cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


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

    rate = _env_int("BENCH_RELAY_RATE", 10 if ctx.full else 5)
    seconds = _env_int("BENCH_RELAY_SECONDS", 30 if ctx.full else 4)
    concurrency = _env_int("BENCH_RELAY_CONCURRENCY", 8)
    # Full size: a one-second answer, so the slots (not the machine's CPU) are what the rate needs.
    tokens = _env_int("BENCH_RELAY_TOKENS", 100 if ctx.full else 24)
    token_ms = _env_int("BENCH_RELAY_TOKEN_MS", 10 if ctx.full else 2)
    raw_workers = os.environ.get("BENCH_RELAY_WORKERS", "").strip()
    n_workers, n_chats, per_message = plan(rate, concurrency, tokens * token_ms / 1000,
                                           int(raw_workers) if raw_workers else None)
    n_chats = _env_int("BENCH_RELAY_CHATS", n_chats)
    print(f"{n_workers} worker process{'es' if n_workers > 1 else ''} × {concurrency} slots"
          f" ({'BENCH_RELAY_WORKERS' if raw_workers else f'{rate}/s × {per_message:.2f} slot-s per message × {HEADROOM}'});"
          f" {n_chats} chats; the agent answers {tokens} tokens {token_ms} ms apart", flush=True)
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
    machine_env = {"OFFLINE_TOKEN_INTERVAL_MS": str(token_ms), "OFFLINE_TOKENS": str(tokens), "BRIDGE_HEARTBEAT_S": "5"}
    try:
        local = start_local_chat(tmp, fly_token="bench-fly-token", machine_env=machine_env, grace_s=1,
                                 api_process_env={**os.environ, **settings})
    except BaseException:
        fake.stop()
        raise
    user_id = None
    workers: list[subprocess.Popen[bytes]] = []
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
            chats = [base_chat + i for i in range(n_chats)]
            with db.service() as tx:
                status = tx.sql("select status::text as s from agent_instances where id = %(i)s",
                                {"i": str(instance.id)}).fetchone()["s"]
                assert status == "running", f"the bench agent is {status}"
                tx.sql("update credit_balances set topup_credits = 10000000 where user_id = %(u)s", {"u": user_id})
                tx.sql("insert into relay_connections (user_id, instance_id, relay, external_user_id, external_chat_id)"
                       " select %(u)s, %(i)s, 'telegram', c::text, c::text from unnest(%(c)s::bigint[]) c",
                       {"u": user_id, "i": str(instance.id), "c": chats})
            fake.state.webhook_url = f"{local.base_url}/functions/v1/telegram-webhook"
            workers = [_worker({**os.environ, **env}, concurrency, tmp / f"worker-{k}.log") for k in range(n_workers)]

            def warm_round() -> float:
                """One message per chat at once, answered; the p50 slot-seconds a message took."""
                start = _backlog_base(db)
                for chat in chats:
                    fake.send_user_message(chat, "warm up")
                deadline = time.monotonic() + 120
                while _backlog(db, start) and time.monotonic() < deadline:
                    time.sleep(0.1)
                with db.service() as tx:
                    busy = sorted(float(r["s"]) for r in tx.sql(
                        "select extract(epoch from i.processed_at - t.created_at)::float8 as s from relay_inbox i"
                        " join turns t on t.id = i.turn_id where i.id > %(s)s and i.status = 'done'", {"s": start}))
                return (_q(busy, 0.5) if busy else per_message) + PRE_TURN_S

            # Warm the path (the workers' start, imports, pools, the gateway's first replay) before the
            # clock starts; then, unless the count is given, a second round measures what a message
            # really takes of a slot on this machine now, and more workers start if the rate needs them.
            warm_round()
            if not raw_workers:
                measured = warm_round()
                needed = min(MAX_WORKERS, max(1, math.ceil(rate * measured * HEADROOM / concurrency)))
                print(f"  warm-up: a message takes {measured:.2f} slot-s here now (p50, answer included)"
                      f" → {needed} worker process{'es' if needed > 1 else ''}"
                      f"{f' ({needed - n_workers} more started)' if needed > n_workers else ''}", flush=True)
                if needed > n_workers:
                    workers += [_worker({**os.environ, **env}, concurrency, tmp / f"worker-{k}.log")
                                for k in range(n_workers, needed)]
                    n_workers = needed
                    warm_round()
            warmed = len(fake.sent())
            since = _backlog_base(db)
            bytes_before = _bytes(db)
            postmaster = _postmaster(db) if bdb.throwaway else None  # a shared database's CPU is not ours to read
            others = {w.pid for w in workers} | {local.api_pid} | ({postmaster, *_descendants(postmaster)} if postmaster else set())
            machines = [p for p in _descendants(os.getpid()) if p not in others]
            cpu_before = {"workers": sum(_cpu_s(w.pid) for w in workers), "api": _cpu_s(local.api_pid or 0),
                          "machines": sum(_cpu_s(p) for p in machines), "here": time.process_time(),
                          "postgres": _postgres_cpu_s(postmaster)}

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
                body = json.dumps(fake.state.new_update(user_id=chats[i % n_chats], text=f"bench relay message {i}"))
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
            cpu = {"workers": sum(_cpu_s(w.pid) for w in workers), "api": _cpu_s(local.api_pid or 0),
                   "machines": sum(_cpu_s(p) for p in machines), "here": time.process_time(),
                   "postgres": _postgres_cpu_s(postmaster)}
            cpu = {k: v - cpu_before[k] for k, v in cpu.items()}
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(30)
            workers = []
            with db.service() as tx:
                outcome = tx.sql("select status, count(*) as n from relay_inbox where id > %(s)s and relay = 'telegram'"
                                 " group by status", {"s": since}).fetchall()
                stages = tx.sql(
                    "select extract(epoch from i.processed_at - i.received_at)::float8 as total,"
                    " extract(epoch from t.created_at - i.received_at)::float8 as before,"
                    " extract(epoch from t.finished_at - t.created_at)::float8 as turn,"
                    " extract(epoch from i.processed_at - t.finished_at)::float8 as after"
                    " from relay_inbox i join turns t on t.id = i.turn_id"
                    " where i.id > %(s)s and i.relay = 'telegram' and i.status = 'done'", {"s": since}).fetchall()
            answered = len(fake.sent()) - warmed
            grown = _bytes(db) - bytes_before
    finally:
        for w in workers:
            if w.poll() is None:
                w.terminate()
                w.wait(30)
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
    answered_n = by_status.get("done", 0)
    ratio = (answered_n / done_s) / rate if done_s else 0.0
    lat = sorted(latencies)
    print(f"{total} signed Telegram updates at {rate}/s for {seconds} s over {n_chats} chats;"
          f" {n_workers} worker process{'es' if n_workers > 1 else ''} × {concurrency} slots")
    print(f"  offered {total / offered_s:.1f}/s, accepted {accepted / sent_s:.1f}/s (HTTP {dict(sorted(statuses.items()))});"
          f" intake p50 {statistics.median(lat) * 1000:.1f} ms, p99 {lat[int(0.99 * (len(lat) - 1))] * 1000:.1f} ms")
    print("  backlog (recorded, not yet answered) each second: "
          + " ".join(f"{n}" for _, n in backlog))
    print(f"  drained {drain:.1f} s after the last update; answered {by_status.get('done', 0)} of {accepted}"
          f" ({answered} replies sent), rows {by_status}")
    if stages:
        col = {k: sorted(float(r[k]) for r in stages) for k in ("total", "before", "turn", "after")}
        print(f"  intake to answered: p50 {_q(col['total'], 0.5) * 1000:.0f} ms, p99 {_q(col['total'], 0.99) * 1000:.0f} ms;"
              f" p50 of its parts: to the turn's start (queue, chat lock, route, hold)"
              f" {_q(col['before'], 0.5) * 1000:.0f} ms, the turn (gateway + agent, which answers in"
              f" {tokens * token_ms} ms) {_q(col['turn'], 0.5) * 1000:.0f} ms, after it (settle, send, finish)"
              f" {_q(col['after'], 0.5) * 1000:.0f} ms")
    per = max(1, answered_n)
    print(f"  CPU per answered message: workers {cpu['workers'] / per * 1000:.1f} ms, intake (API) {cpu['api'] / per * 1000:.1f} ms,"
          f" agent machine + SSE gateway {cpu['machines'] / per * 1000:.1f} ms, this process (Fly emulator's proxy,"
          f" senders, fake) {cpu['here'] / per * 1000:.1f} ms, Postgres {f"{cpu['postgres'] / per * 1000:.1f} ms" if postmaster else "n/a (shared)"};"
          f" all {sum(cpu.values()) / done_s:.2f} cores, the workers {cpu['workers'] / done_s:.2f}"
          f" ({cpu['workers'] / done_s / n_workers:.2f} each)")
    print(f"  sustained answer rate {answered_n / done_s:.1f}/s over {done_s:.1f} s;"
          f" Postgres grew {grown / 1024:.0f} KiB ({grown / max(1, by_status.get('done', 0)):.0f} bytes per answered"
          f" message: {', '.join(GROWTH_TABLES)})")
    print(f"answered ÷ offered rate {ratio:.2f}  goal {GOAL}  {verdict(GOAL, ratio)}")
    return Result("relay-intake", GOAL, ratio=ratio)


def _q(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * (len(sorted_values) - 1) + 0.5))]


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
