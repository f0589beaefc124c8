"""`openagents dev`: the whole platform on this machine, on embedded defaults (ARCHITECTURE §2).

Starts (or reuses) a private Postgres cluster in `.data/postgres`, applies migrations and the seed,
and serves every function on 127.0.0.1:$PORT as vercel.json routes them. Ctrl-C (or SIGTERM, SIGHUP)
stops all it started, in the reverse order of starting (the API, the worker, the Fly emulator, the
Stripe fake, Postgres last, so nothing loses its database while it still runs); the data stays for
next time, the Fly emulator's apps, machines and volumes included (`.data/fly`). `DATABASE_URL`
makes it use another Postgres instead.

If this process dies without that cleanup (SIGKILL, a crash), the guardian (`devstack/guardian.py`)
kills the worker and every machine process and stops Postgres; should that fail too, the next start
takes back a Postgres of this folder that is still running and kills the worker and the machine
processes recorded in `.data/` (`dev-worker.json`, `fly/state.json`).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from devstack.guardian import die_with_parent, guardian, kill_group, start_time
from devstack.postgres import LocalPostgres
from shared.config import DATA_DIR, LOCAL_ENV_FILE, PROJECT_ROOT, ensure_local_secrets, read_env_file

DEFAULT_PG_PORT = 54329


def _reachable_by_postgres(path: Path) -> bool:
    if os.geteuid() != 0:
        return True
    probe = path if path.exists() else path.parent
    r = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(probe)], capture_output=True)
    return r.returncode == 0


def pg_data_dir() -> Path:
    """`.data/postgres`, unless the server's system user cannot reach into the project (e.g. under
    /root): then a folder under /var/lib named after the project, linked from `.data/postgres`."""
    wanted = DATA_DIR / "postgres"
    if wanted.is_symlink():
        return wanted.resolve()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    if _reachable_by_postgres(DATA_DIR):
        return wanted
    digest = hashlib.sha256(str(PROJECT_ROOT).encode()).hexdigest()[:12]
    alt = Path("/var/lib/openagents") / f"postgres-{digest}"
    alt.mkdir(parents=True, exist_ok=True)
    Path("/var/lib/openagents").chmod(0o755)
    if not wanted.exists():
        wanted.symlink_to(alt)
    return alt


def local_env() -> dict[str, str]:
    values = ensure_local_secrets()
    if "OPENAGENTS_PG_PASSWORD" not in values:
        values["OPENAGENTS_PG_PASSWORD"] = secrets.token_urlsafe(24)
        LOCAL_ENV_FILE.write_text("".join(f"{k}={v}\n" for k, v in sorted(values.items())))
    return read_env_file(LOCAL_ENV_FILE)


def local_postgres() -> LocalPostgres:
    env = local_env()
    port = int(os.environ.get("OPENAGENTS_PG_PORT", DEFAULT_PG_PORT))
    return LocalPostgres(pg_data_dir(), port=port, password=env["OPENAGENTS_PG_PASSWORD"])


def _banner(port: int, started: list[str]) -> str:
    base = f"http://127.0.0.1:{port}"
    lines = [
        "",
        "OpenAgents is running locally:",
        *[f"  {s}" for s in started],
        f"  API + functions   {base}  (health: {base}/api/health, docs: {base}/api/openapi.json)",
        f"  Console           {base}/  (web console: sign in, hire, chat, credits)",
        "",
        "Sign in (dev mode mints a Supabase-shaped token):",
        f"  curl -s -X POST {base}/api/dev/sign-in -H 'Content-Type: application/json' \\",
        "       -d '{\"email\": \"demo@openagents.dev\"}'",
        "  then send `Authorization: Bearer <access_token>`.",
        f"  Browse agents: curl -s '{base}/api/agents?q=email'",
        "",
        "Chat: hire an agent, then stream an answer:",
        f"  curl -s -X POST {base}/api/instances -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\",
        "       -d '{\"agent\": \"inbox-zero\"}'",
        f"  curl -N -X POST {base}/api/chat/stream -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\",
        "       -d '{\"instance_id\": \"<id>\", \"message\": \"hello\", \"client_message_id\": \"m1\"}'",
        "",
        "Ctrl-C stops everything started here; data stays in .data/.",
        "",
    ]
    return "\n".join(lines)


def _stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # the worker finishes its running jobs first
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


WORKER_RECORD = "dev-worker.json"


def _kill_stale_worker() -> None:
    """A worker a previous run left behind (it died, and so did its guardian): it must not go on
    taking jobs beside the new one. Recorded as pid + start time, so a reused pid is left alone."""
    record = DATA_DIR / WORKER_RECORD
    try:
        data = json.loads(record.read_text())
        kill_group(int(data["pgid"]), data.get("started"))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    record.unlink(missing_ok=True)


def run_dev(port: int | None = None) -> int:
    os.environ.setdefault("OPENAGENTS_ENV", "dev")
    for k, v in local_env().items():
        os.environ.setdefault(k, v)
    port = port or int(os.environ.get("PORT", 8080))
    os.environ["PORT"] = str(port)
    stops: list[Callable[[], None]] = []  # in the order of starting; run in reverse
    started: list[str] = []
    # From the first moment: a SIGTERM during startup stops what has started so far, too.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    guard = guardian()
    _kill_stale_worker()
    try:
        from shared.data import migrate as m

        if not os.environ.get("DATABASE_URL"):
            pg = local_postgres()
            guard.on_orphan("postgres", pg.stop_command())
            pg.start()

            def stop_postgres() -> None:
                pg.stop()
                guard.forget("postgres")

            stops.append(stop_postgres)
            m.create_database(pg.url(), "openagents")
            os.environ["DATABASE_URL"] = pg.url("openagents")
            started.append(f"Postgres          127.0.0.1:{pg.port} (data in {pg.data_dir})")
        else:
            started.append("Postgres          $DATABASE_URL")
        url = os.environ["DATABASE_URL"]
        m.migrate(url)
        m.seed(url)

        if not os.environ.get("STRIPE_SECRET_KEY"):
            from devstack.stripe_dev import start_stripe_fake

            fake, stripe_env = start_stripe_fake(
                webhook_url=f"http://127.0.0.1:{port}/api/stripe/webhook",
                webhook_secret=os.environ["STRIPE_WEBHOOK_SECRET"])
            stops.append(fake.stop)
            os.environ.update(stripe_env)
            started.append(f"Stripe (fake)     {stripe_env['STRIPE_API_BASE']}  (checkout pages are served there)")
        else:
            started.append("Stripe            $STRIPE_SECRET_KEY")

        if not os.environ.get("OPENAI_BASE_URL"):
            # Agents reach models through the platform's LLM proxy (/llm/v1); locally its upstream is
            # the fake provider, with a key of its own (an explicitly set provider wins).
            from devstack.fake_llm import FakeLLM, upstream_env

            llm = FakeLLM().start()
            stops.append(llm.stop)
            for k, v in upstream_env(llm).items():
                os.environ.setdefault(k, v)
            started.append(f"LLM (fake)        {llm.base_url}  (upstream of the LLM proxy at /llm/v1)")
        else:
            started.append("LLM upstream      $OPENAI_BASE_URL")

        if not os.environ.get("FLY_API_BASE"):
            from devstack.fly_dev import ensure_sse_gateway, start_fly

            runtime = os.environ.get("OPENAGENTS_AGENT_RUNTIME", "offline")
            openclaw = None
            if runtime == "openclaw":
                from devstack.openclaw_runtime import install

                print("OPENAGENTS_AGENT_RUNTIME=openclaw: installing Node and OpenClaw (once, cached)…", flush=True)
                openclaw = install()
            emu, fly_env = start_fly(data_dir=DATA_DIR / "fly", token=os.environ["FLY_API_TOKEN"], runtime=runtime,
                                     openclaw=openclaw, persistent=True)
            stops.append(emu.stop)
            os.environ.update(fly_env)
            os.environ.setdefault("WARM_POOL_SIZE", "2")  # a hire claims a pre-made unit: first token in ~0.2 s
            ensure_sse_gateway(emu.client(), os.environ["STREAM_TOKEN_PUBLIC_KEY"])
            started.append(f"Fly (emulator)    {emu.url}  proxy {emu.proxy_url}  (agent runtime: {runtime})")
            started.append(f"SSE gateway       {fly_env['SSE_GATEWAY_URL']}")
        else:
            started.append("Fly               $FLY_API_BASE")

        if not os.environ.get("TELEGRAM_API_BASE"):  # chat platforms: local fakes (devstack/relays_dev.py)
            from devstack.relays_dev import start_relay_fakes

            relay_fakes, relay_env = start_relay_fakes(api_base=f"http://127.0.0.1:{port}", settings=os.environ)
            stops.extend(fake.stop for fake in relay_fakes)
            os.environ.update(relay_env)
            started.append(f"Chat relays (fakes) Telegram {relay_env['TELEGRAM_API_BASE']}  Slack/WhatsApp/Discord next"
                           " ports  (demo: python -m devstack.emulators.telegram.demo)")

        from shared.config import reset_settings

        reset_settings()
        # A session of its own: Ctrl-C reaches only us, and we stop it in turn (before the
        # emulator and Postgres it uses).
        worker = subprocess.Popen([sys.executable, "-m", "cli.main", "worker"], env=dict(os.environ),
                                  start_new_session=True, preexec_fn=die_with_parent(signal.SIGINT))
        guard.watch_group("worker", worker.pid, sig=signal.SIGINT, grace_s=10)
        (DATA_DIR / WORKER_RECORD).write_text(json.dumps({"pgid": worker.pid, "started": start_time(worker.pid)}))

        def stop_worker() -> None:
            _stop_process(worker)
            guard.forget("worker")
            (DATA_DIR / WORKER_RECORD).unlink(missing_ok=True)

        stops.append(stop_worker)
        started.append(f"Job worker        pid {worker.pid} (procrastinate; queues: all)")
        from devstack.server import make_api_server

        server = make_api_server(port)
        thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
        thread.start()
        stops.append(server.shutdown)  # only once serving: shutdown() waits for serve_forever to end
        print(_banner(port, started), flush=True)
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        print("\nstopping…", file=sys.stderr, flush=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        for stop in reversed(stops):
            try:
                stop()
            except Exception as exc:  # keep stopping the rest
                print(f"while stopping: {exc}", file=sys.stderr)
    return 0
