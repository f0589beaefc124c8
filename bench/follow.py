"""`follow`: Postgres connections under many live follow streams (issue 9).

One user opens 200 `GET /api/sessions/{id}/events` streams (50 with --quick) on an API served in a
process of its own, as a function is; then three frames are broadcast on the session, each waking
every stream at once to read its rows. The connections of the benchmark's database
(`pg_stat_activity`) are counted before (the API warm: its pool filled by a burst of requests), with
the streams open, and at the peak while frames wake them. The streams share the process's one LISTEN
connection and read with short pooled transactions, so the count should not grow with them: the goal
is the idle count + 5.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from bench.registry import Context, Goal, Result, benchmark, verdict
from shared.data import Database

EMAIL_DOMAIN = "bench.openagents.invalid"
JWT = "bench-jwt-secret-0123456789abcdef"


def _connections(db: Database) -> int:
    with db.service() as tx:
        return tx.sql("select count(*) as n from pg_stat_activity where datname = current_database()").fetchone()["n"]


def _start_api(url: str) -> tuple[subprocess.Popen[bytes], str]:
    from devstack.serve import spawn

    return spawn({**os.environ, "DATABASE_URL": url, "OPENAGENTS_ENV": "test", "LOG_LEVEL": "WARNING",
                      "SUPABASE_JWT_SECRET": os.environ.get("SUPABASE_JWT_SECRET") or JWT,
                      "CHAT_STREAMS_PER_USER": "10000", "OPENAGENTS_DATA_DIR": tempfile.mkdtemp(prefix="oa-bench-follow-")})


def _session(db: Database, user_id: str, tag: str) -> str:
    with db.service() as tx:
        tx.sql("update profiles set role = 'creator' where id = %(u)s", {"u": user_id})
        agent = tx.sql("insert into agents (creator_id, slug, name, category, status, published_at)"
                       " values (%(u)s, %(s)s, 'Bench follow', 'test', 'published', now()) returning id",
                       {"u": user_id, "s": f"bench-follow-{tag}"}).fetchone()["id"]
        inst = tx.sql("insert into agent_instances (user_id, agent_id, status) values (%(u)s, %(a)s, 'running')"
                      " returning id", {"u": user_id, "a": agent}).fetchone()["id"]
        return str(tx.sql("insert into sessions (user_id, instance_id) values (%(u)s, %(i)s) returning id",
                          {"u": user_id, "i": inst}).fetchone()["id"])


def _frame(db: Database, user_id: str, session_id: str, instance_id: str) -> str:
    """A turn with two events, written and broadcast the way the streaming function does it."""
    with db.service() as tx:
        turn = tx.sql("insert into turns (session_id, user_id, instance_id, client_message_id) values"
                      " (%(s)s, %(u)s, %(i)s, %(c)s) returning id",
                      {"s": session_id, "u": user_id, "i": instance_id, "c": uuid.uuid4().hex}).fetchone()["id"]
        for seq, event in ((1, "session"), (2, "done")):
            tx.sql("insert into turn_events (turn_id, seq, user_id, event, data) values (%(t)s, %(q)s, %(u)s, %(e)s, '{}')",
                   {"t": turn, "q": seq, "u": user_id, "e": event})
        tx.sql("update turns set last_seq = 2 where id = %(t)s", {"t": turn})
        tx.sql("select realtime.send(%(p)s::jsonb, 'turn', %(topic)s, true)",
               {"p": json.dumps({"turn_id": str(turn)}), "topic": f"session:{session_id}"})
    return str(turn)


def _follow(base: str, headers: dict[str, str], session_id: str, ready: threading.Event,
            frames: queue.Queue[str], stop: threading.Event) -> None:
    try:
        with httpx.Client(base_url=base, timeout=120, trust_env=False) as http, \
                http.stream("GET", f"/api/sessions/{session_id}/events", headers=headers) as resp:
            resp.raise_for_status()
            for line in resp.iter_lines():
                if line.startswith(":"):
                    ready.set()
                elif line.startswith("data:"):
                    frames.put(json.loads(line[5:])["turn_id"])
                if stop.is_set():
                    return
    except httpx.HTTPError:
        if not stop.is_set():  # the API going away at the end is expected
            raise


def _cleanup(db: Database, tag: str) -> None:
    users = "select id from auth.users where email like %(p)s"
    params = {"p": f"bench-follow-{tag}@{EMAIL_DOMAIN}"}
    with db.connection() as conn, conn.transaction():
        conn.execute(f"delete from public.sessions where user_id in ({users})", params)
        conn.execute(f"delete from public.agent_instances where user_id in ({users})", params)
        conn.execute(f"delete from public.agents where creator_id in ({users})", params)
        conn.execute(f"delete from auth.users where id in ({users})", params)


@benchmark("follow", "Postgres connections under 200 live follow streams of one user")
def follow(ctx: Context) -> Result:

    bench_db = ctx.database()
    db = bench_db.db
    n = 200 if ctx.full else 50
    tag = uuid.uuid4().hex[:8]
    proc, base = _start_api(bench_db.url)
    stop = threading.Event()
    try:
        with httpx.Client(base_url=base, timeout=60, trust_env=False) as http:
            auth = http.post("/api/dev/sign-in", json={"email": f"bench-follow-{tag}@{EMAIL_DOMAIN}"}).json()
            headers = {"Authorization": f"Bearer {auth['access_token']}"}
            user_id = auth["user_id"]
            session_id = _session(db, user_id, tag)
            with db.service() as tx:
                instance_id = str(tx.sql("select instance_id from sessions where id = %(s)s",
                                         {"s": session_id}).fetchone()["instance_id"])
            # Warm the API's pool the way any burst of requests does, so what is measured is what the
            # streams add beyond it.
            with ThreadPoolExecutor(32) as pool:
                list(pool.map(lambda _: http.get("/api/me", headers=headers).raise_for_status(), range(200)))
        time.sleep(0.5)
        idle = _connections(db)

        readies = [threading.Event() for _ in range(n)]
        inboxes: list[queue.Queue[str]] = [queue.Queue() for _ in range(n)]
        threads = [threading.Thread(target=_follow, args=(base, headers, session_id, readies[i], inboxes[i], stop),
                                    daemon=True) for i in range(n)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for r in readies:
            if not r.wait(60):
                raise RuntimeError("a follow stream did not start")
        open_s = time.perf_counter() - started
        opened = _connections(db)
        peak = opened
        woke: list[float] = []
        for _ in range(3):
            t0 = time.perf_counter()
            turn = _frame(db, user_id, session_id, instance_id)
            for inbox in inboxes:
                while inbox.get(timeout=30) != turn:
                    pass
                peak = max(peak, _connections(db))
            woke.append(time.perf_counter() - t0)
        goal = Goal("<=", idle + 5, "conns")
        print(f"{n} follow streams of one user, opened in {open_s:.1f} s")
        print(f"  connections  idle {idle}   streams open {opened}   peak while frames woke them {peak}"
              f"   goal {goal}  {verdict(goal, peak)}")
        print(f"  a frame reached all {n} streams in {max(woke) * 1000:.0f} ms at most")
        return Result("follow", goal, value=peak, unit="conns")
    finally:
        stop.set()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        try:
            _cleanup(db, tag)
        except Exception as exc:  # noqa: BLE001 — reported, the result stands
            print(f"could not remove the benchmark rows: {exc!r}")
