"""`intake`: a signed Telegram update through verify + dedupe + enqueue, against a bare INSERT of the
same row through the same driver, in one run (ARCHITECTURE §7: p99 < 10 ms, ≥ 50% of bare throughput).

Both sides run one after another on one thread and one pooled connection, in alternating blocks (so
drift in the machine hits both alike), each operation its own service-role transaction:

    bare     `insert into relay_inbox (relay, platform_id, chat_id, payload) values (…)`
    intake   the Telegram secret-token verifier (constant-time) → the update parsed and checked →
             `shared.relays.intake.record`: the one statement that inserts on conflict do nothing and,
             only for a new row, defers `relay_process` in the same statement

Then every update is delivered a second time (Telegram's redeliveries) through intake: nothing is
inserted or enqueued twice, which is checked. The headline is intake throughput ÷ bare throughput;
p50/p99 per operation are printed with their goal. The whole function over WSGI (Flask, the route
declaration, the receipt) is shown too, for reference. Benchmark rows and jobs are removed afterwards.
"""

from __future__ import annotations

import json
import logging
import secrets
import statistics
import time
import uuid
from typing import Any

from bench.registry import Context, Goal, Result, benchmark, verdict

GOAL = Goal(">=", 0.5)
P99_GOAL = Goal("<", 10, "ms")
BLOCK = 100


def _update(update_id: int, chat: int, text: str) -> bytes:
    return json.dumps({"update_id": update_id, "message": {
        "message_id": update_id % 1_000_000, "date": int(time.time()),
        "chat": {"id": chat, "type": "private", "first_name": "Bench"},
        "from": {"id": chat, "is_bot": False, "first_name": "Bench", "language_code": "en"},
        "text": text}}, separators=(",", ":")).encode()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))] * 1000


def _cleanup(db: Any, chat_prefix: str) -> str:
    try:
        with db.connection() as conn, conn.transaction():
            conn.execute("delete from procrastinate.procrastinate_jobs where lock like %s",
                         (f"relay-chat:telegram:{chat_prefix}%",))
            conn.execute("delete from public.relay_inbox where chat_id like %s", (f"{chat_prefix}%",))
    except Exception as exc:
        return f"could not remove the benchmark rows ({exc.__class__.__name__}: {exc}); chats '{chat_prefix}%'"
    return "removed the benchmark rows"


@benchmark("intake", "signed Telegram update: verify + dedupe + enqueue vs a bare INSERT; p99 and throughput")
def run(ctx: Context) -> Result:
    from werkzeug.datastructures import Headers

    from shared.config import overridden
    from shared.relays import intake, telegram
    from shared.web.verifiers import Inbound

    n = 2000 if ctx.full else 300
    bdb = ctx.database()
    secret = secrets.token_urlsafe(32)
    tag = str(900_000 + secrets.randbelow(99_999))  # bench chats: ids starting with this
    base_id = 8_000_000_000 + secrets.randbelow(1_000_000_000)
    bodies = [_update(base_id + i, int(f"{tag}{i % 50:02d}"), f"bench message {i}") for i in range(n)]
    bare_rows = [(str(uuid.uuid4()), f"{tag}{i % 50:02d}", b.decode()) for i, b in enumerate(bodies)]
    headers = Headers({telegram.SECRET_HEADER: secret, "Content-Type": "application/json"})
    # One JSON line per update (and per request) would measure the terminal, not intake.
    quiet = [logging.getLogger(n) for n in ("openagents.relays", "openagents.http")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.WARNING)
    bare: list[float] = []
    verified: list[float] = []
    again: list[float] = []
    wsgi: list[float] = []
    try:
        with overridden({"TELEGRAM_WEBHOOK_SECRET": secret, "TELEGRAM_BOT_USERNAME": "bench_bot"}), \
                bdb.as_default() as db:
            with db.service() as tx:  # the connection is open before the clock starts
                tx.sql("select 1")

            def bare_one(i: int) -> None:
                platform_id, chat, payload = bare_rows[i]
                t = time.perf_counter()
                with db.service() as tx:
                    tx.sql("insert into public.relay_inbox (relay, platform_id, chat_id, payload)"
                           " values ('telegram', %(p)s, %(c)s, %(j)s::jsonb)", {"p": platform_id, "c": chat, "j": payload})
                bare.append(time.perf_counter() - t)

            def intake_one(i: int, into: list[float]) -> int:
                t = time.perf_counter()
                inbound = Inbound("POST", "/functions/v1/telegram-webhook", headers, {}, bodies[i])
                telegram.SECRET_TOKEN.verify(inbound)
                ids = intake.record(telegram.parse_update(inbound.body))
                into.append(time.perf_counter() - t)
                return sum(1 for x in ids if x is not None)

            recorded = 0
            for start in range(0, n, BLOCK):
                for i in range(start, min(n, start + BLOCK)):
                    bare_one(i)
                for i in range(start, min(n, start + BLOCK)):
                    recorded += intake_one(i, verified)
            duplicates = sum(intake_one(i, again) for i in range(n))

            from werkzeug.test import Client

            from devstack.server import VercelDispatcher

            client = Client(VercelDispatcher())
            wsgi_bodies = [_update(base_id + n + i, int(f"{tag}{i % 50:02d}"), f"bench wsgi {i}") for i in range(min(n, 300))]
            for body in wsgi_bodies:
                t = time.perf_counter()
                resp = client.post("/functions/v1/telegram-webhook", data=body,
                                   headers={telegram.SECRET_HEADER: secret, "Content-Type": "application/json"})
                wsgi.append(time.perf_counter() - t)
                assert resp.status_code == 200, resp.get_data(as_text=True)
            with db.service() as tx:
                rows = tx.sql("select count(*) as n from public.relay_inbox where chat_id like %(c)s",
                              {"c": f"{tag}%"}).fetchone()["n"]
                jobs = tx.sql("select count(*) as n from procrastinate.procrastinate_jobs where lock like %(l)s",
                              {"l": f"relay-chat:telegram:{tag}%"}).fetchone()["n"]
    finally:
        for q, lv in zip(quiet, levels, strict=True):
            q.setLevel(lv)
        print(_cleanup(bdb.db, tag))

    bare_rps = len(bare) / sum(bare)
    intake_rps = len(verified) / sum(verified)
    ratio = intake_rps / bare_rps
    p99 = _pct(verified, 0.99)
    print(f"{n} signed Telegram updates, one thread, one connection, alternating blocks of {BLOCK}")
    print(f"bare INSERT            {bare_rps:8,.0f} /s   p50 {_pct(bare, 0.5):5.2f} ms   p99 {_pct(bare, 0.99):5.2f} ms")
    print(f"verify+dedupe+enqueue  {intake_rps:8,.0f} /s   p50 {_pct(verified, 0.5):5.2f} ms   p99 {p99:5.2f} ms  "
          f"goal {P99_GOAL}  {verdict(P99_GOAL, p99)}")
    print(f"redelivered (dedupe)   {len(again) / sum(again):8,.0f} /s   p50 {_pct(again, 0.5):5.2f} ms   "
          f"p99 {_pct(again, 0.99):5.2f} ms")
    print(f"whole function (WSGI)  {len(wsgi) / sum(wsgi):8,.0f} /s   p50 {_pct(wsgi, 0.5):5.2f} ms   "
          f"p99 {_pct(wsgi, 0.99):5.2f} ms   (Flask + route declaration, for reference)")
    once = recorded == n and duplicates == 0 and jobs == n + len(wsgi_bodies)
    print(f"recorded {recorded}, redeliveries recorded {duplicates}, jobs {jobs} (rows incl. bare {rows}): "
          f"{'ok' if once else 'MISSED'} (each update recorded and enqueued once)")
    print(f"intake / bare throughput {ratio:.2f}  goal {GOAL}  {verdict(GOAL, ratio)}"
          f"  (median {statistics.median(verified) * 1000:.2f} ms vs {statistics.median(bare) * 1000:.2f} ms)")
    return Result("intake", GOAL, ratio=ratio)
