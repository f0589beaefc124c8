"""`openagents doctor`: what is configured and what is missing, in plain words."""

from __future__ import annotations

import os
import shutil
import sys

from shared.config import LOCAL_ENV_FILE, Settings, read_env_file

GROUPS: list[tuple[str, list[str], str]] = [
    ("Database", ["DATABASE_URL"], "unset: `openagents dev` runs a private local cluster in .data/"),
    ("Direct DB (workers, LISTEN)", ["DATABASE_DIRECT_URL"], "unset: workers use DATABASE_URL"),
    ("Auth", ["SUPABASE_JWT_SECRET", "SUPABASE_JWKS_URL"], "one of them is needed to verify access tokens"),
    ("Supabase", ["SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY"], "only for a real Supabase project"),
    ("Cron", ["CRON_SECRET"], "Vercel Cron calls /api/cron/* with it"),
    ("Fly", ["FLY_API_TOKEN", "FLY_API_BASE", "FLY_ORG", "FLY_REGION", "AGENT_IMAGE"], "dev uses the local Fly emulator"),
    ("SSE gateway", ["SSE_GATEWAY_URL"], "dev runs it locally"),
    ("Skill signing", ["SKILL_SIGNING_KEY", "SKILL_SIGNING_PUBLIC_KEYS"], "needed to publish agents"),
    ("Stripe", ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE"], "without it billing answers 'not configured'"),
    ("Telegram", ["TELEGRAM_BOT_TOKEN", "TELEGRAM_BOT_USERNAME", "TELEGRAM_WEBHOOK_SECRET"], "relay off without it"),
    ("Slack", ["SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"], "relay off without it"),
    ("WhatsApp", ["WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID"],
     "relay off without it"),
    ("Discord", ["DISCORD_APPLICATION_ID", "DISCORD_PUBLIC_KEY", "DISCORD_BOT_TOKEN"], "relay off without it"),
    ("LLM providers", ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"], "agents use the offline runtime without them"),
]


def run() -> int:
    env = os.environ.get("OPENAGENTS_ENV", "dev")
    local = read_env_file(LOCAL_ENV_FILE) if env == "dev" else {}
    print(f"mode: {env}  (python {sys.version.split()[0]})")
    problems = 0
    try:
        Settings(**{k: v for k, v in local.items() if k in Settings.model_fields and k not in os.environ})
    except Exception as exc:
        print(f"  ✗ settings are invalid: {exc}")
        problems += 1
    for title, names, note in GROUPS:
        have = [n for n in names if os.environ.get(n) or n in local]
        mark = "✓" if have else "·"
        shown = ", ".join(f"{n}{' (local default)' if n in local and not os.environ.get(n) else ''}" for n in have)
        print(f"  {mark} {title}: {shown or 'not set'}" + ("" if have else f" — {note}"))
    for tool, why in (("initdb", "local Postgres"), ("pg_ctl", "local Postgres"), ("node", "OpenClaw runtime (optional)")):
        found = shutil.which(tool) or any(os.path.exists(f"/usr/lib/postgresql/{v}/bin/{tool}") for v in range(12, 20))
        print(f"  {'✓' if found else '·'} {tool}: {'found' if found else 'missing'} ({why})")
    if env == "production":
        for need in ("DATABASE_URL", "CRON_SECRET"):
            if not os.environ.get(need):
                print(f"  ✗ production needs {need}")
                problems += 1
    print("ok" if not problems else f"{problems} problem(s)")
    return 1 if problems else 0
