"""`openagents dev`: the whole platform on this machine, on embedded defaults (ARCHITECTURE §2).

Starts (or reuses) a private Postgres cluster in `.data/postgres`, applies migrations and the seed,
and serves every function on 127.0.0.1:$PORT as vercel.json routes them. Ctrl-C stops all it started;
the data stays for next time. `DATABASE_URL` makes it use another Postgres instead.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

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


def run_dev(port: int | None = None) -> int:
    os.environ.setdefault("OPENAGENTS_ENV", "dev")
    for k, v in local_env().items():
        os.environ.setdefault(k, v)
    port = port or int(os.environ.get("PORT", 8080))
    os.environ["PORT"] = str(port)
    stops: list[Callable[[], None]] = []
    started: list[str] = []
    try:
        from shared.data import migrate as m

        if not os.environ.get("DATABASE_URL"):
            pg = local_postgres()
            pg.start()
            stops.append(pg.stop)
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

        if not os.environ.get("FLY_API_BASE"):
            from devstack.fly_dev import ensure_sse_gateway, start_fly

            runtime = os.environ.get("OPENAGENTS_AGENT_RUNTIME", "offline")
            openclaw = None
            if runtime == "openclaw":
                from devstack.openclaw_runtime import install

                print("OPENAGENTS_AGENT_RUNTIME=openclaw: installing Node and OpenClaw (once, cached)…", flush=True)
                openclaw = install()
            emu, fly_env = start_fly(data_dir=DATA_DIR / "fly", token=os.environ["FLY_API_TOKEN"], runtime=runtime,
                                     openclaw=openclaw)
            stops.append(emu.stop)
            os.environ.update(fly_env)
            os.environ.setdefault("WARM_POOL_SIZE", "2")  # a hire claims a pre-made unit: first token in ~0.2 s
            ensure_sse_gateway(emu.client(), os.environ["STREAM_TOKEN_PUBLIC_KEY"])
            started.append(f"Fly (emulator)    {emu.url}  proxy {emu.proxy_url}  (agent runtime: {runtime})")
            started.append(f"SSE gateway       {fly_env['SSE_GATEWAY_URL']}")
        else:
            started.append("Fly               $FLY_API_BASE")

        from shared.config import reset_settings

        reset_settings()
        worker = subprocess.Popen([sys.executable, "-m", "cli.main", "worker"], env=dict(os.environ))
        stops.append(lambda: _stop_process(worker))
        started.append(f"Job worker        pid {worker.pid} (procrastinate; queues: all)")
        from werkzeug.serving import make_server

        from devstack.server import VercelDispatcher

        server = make_server("127.0.0.1", port, VercelDispatcher(), threaded=True)
        stops.insert(0, server.shutdown)
        print(_banner(port, started), flush=True)

        def _sigterm(*_: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _sigterm)
        thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        print("\nstopping…", file=sys.stderr, flush=True)
    finally:
        for stop in stops:
            try:
                stop()
            except Exception as exc:  # keep stopping the rest
                print(f"while stopping: {exc}", file=sys.stderr)
    return 0
