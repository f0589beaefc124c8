"""`openagents doctor`: what is configured and what is missing, in plain words.

In `dev` every secret has a generated default (shared.config.LOCAL_DEFAULTS, made on first use —
by the doctor too — and kept in `.data/local.env`) and the dev stack provides the services
(Postgres, the Fly emulator, the Stripe fake, the SSE gateway), so nothing is missing there. In `production` each need is either required (the exit status is 1 while one is
missing) or a feature that stays off without it; both are listed with what their absence means.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from shared.config import LOCAL_ENV_FILE, Settings, local_defaults, read_env_file

Level = Literal["required", "feature"]


@dataclass(frozen=True)
class Need:
    title: str
    names: tuple[str, ...]
    level: Level  # in production
    without: str  # what production lacks while it is missing
    dev: str | None = None  # how dev and test do without it; None: a generated local default
    one_of: bool = False  # any one of `names` is enough


NEEDS: tuple[Need, ...] = (
    Need("Database", ("DATABASE_URL",), "required", "the API and workers have no database",
         dev="`openagents dev` runs a private Postgres cluster in .data/"),
    Need("Direct database connection", ("DATABASE_DIRECT_URL",), "feature",
         "workers use DATABASE_URL, and LISTEN/NOTIFY does not pass Supabase's transaction pooler",
         dev="workers use DATABASE_URL (there is no pooler locally)"),
    Need("Sign-in tokens", ("SUPABASE_JWT_SECRET", "SUPABASE_JWKS_URL"), "required",
         "no access token can be verified, so nobody can sign in", one_of=True),
    Need("Supabase project", ("SUPABASE_URL",), "feature", "access tokens' issuer is not checked",
         dev="tokens are minted by the dev sign-in for this server's own URL"),
    Need("Supabase API keys", ("SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY"), "feature",
         "browser clients cannot reach Supabase (Realtime, Auth) directly",
         dev="not used locally: the API talks to Postgres itself"),
    Need("Cron", ("CRON_SECRET",), "required", "Vercel Cron cannot run the scheduled jobs"),
    Need("Fly", ("FLY_API_TOKEN",), "required", "no agent machine can be created"),
    Need("Chat streaming", ("SSE_GATEWAY_URL",), "required", "chat answers 503",
         dev="`openagents dev` runs the SSE gateway on the Fly emulator"),
    Need("Stream tokens", ("STREAM_TOKEN_PRIVATE_KEY",), "required",
         "the API cannot sign the per-turn tokens the SSE gateway checks, so chat answers 503"),
    Need("Skill signing", ("SKILL_SIGNING_KEY", "SKILL_SIGNING_PUBLIC_KEYS"), "required",
         "agents cannot be published and machines cannot check their skills"),
    Need("Metrics", ("METRICS_TOKEN",), "feature", "/api/metrics refuses every scrape"),
    Need("Stripe", ("STRIPE_SECRET_KEY",), "feature", "billing answers 'not configured' (503)",
         dev="`openagents dev` runs the Stripe fake"),
    Need("Stripe webhook", ("STRIPE_WEBHOOK_SECRET",), "feature",
         "Stripe's events are refused, so payments never arrive as credits"),
    Need("Stripe Connect webhook", ("STRIPE_CONNECT_WEBHOOK_SECRET",), "feature",
         "events of creators' connected accounts (account.updated) are refused, so payout status is only "
         "refreshed when the platform endpoint sees a change (docs/deploy.md §Stripe)",
         dev="the Stripe fake signs every event with STRIPE_WEBHOOK_SECRET"),
    Need("Stripe prices", ("STRIPE_PRICES",), "feature",
         "checkout has no Stripe Price for any plan or top-up, so nothing can be bought (docs/deploy.md §Stripe)",
         dev="`openagents dev` creates the products and prices in the Stripe fake"),
    Need("Agent image", ("AGENT_IMAGE",), "feature",
         "machines run `openagents-agent:latest`, not the image fly/agent/build.sh tags for fly/agent/OPENCLAW_VERSION",
         dev="the Fly emulator runs the local machine program"),
    Need("Fly organisation", ("FLY_ORG",), "feature",
         "agent apps are created in the `personal` org, not the one whose fly-replay setting the gateway needs",
         dev="the Fly emulator has one org"),
    Need("Telegram", ("TELEGRAM_BOT_TOKEN", "TELEGRAM_BOT_USERNAME", "TELEGRAM_WEBHOOK_SECRET"), "feature",
         "the Telegram relay is off"),
    Need("Slack", ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"), "feature", "the Slack relay is off"),
    Need("WhatsApp", ("WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_ACCESS_TOKEN",
                      "WHATSAPP_PHONE_NUMBER_ID"), "feature", "the WhatsApp relay is off"),
    Need("Discord", ("DISCORD_APPLICATION_ID", "DISCORD_PUBLIC_KEY", "DISCORD_BOT_TOKEN"), "feature",
         "the Discord relay is off"),
    Need("LLM providers", ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"), "feature",
         "the LLM proxy has no platform key: only users' own keys (BYOK) work",
         dev="agents use the offline runtime (a deterministic local model)", one_of=True),
    Need("LLM proxy address", ("LLM_PROXY_URL", "PUBLIC_URL"), "feature",
         "machines get no LLM proxy settings, so agents on the OpenClaw runtime reach no model",
         dev="machines call this server's own /llm (its upstream: the fake LLM)", one_of=True),
)

TOOLS = (("initdb", "local Postgres"), ("pg_ctl", "local Postgres"), ("node", "OpenClaw runtime (optional)"))


@dataclass(frozen=True)
class Finding:
    need: Need
    present: dict[str, str]  # name → where its value comes from: "set" or "local default"
    missing: tuple[str, ...]

    @property
    def satisfied(self) -> bool:
        return bool(self.present) if self.need.one_of else not self.missing


@dataclass
class Report:
    mode: str
    findings: list[Finding] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)  # settings that do not validate (no values shown)

    @property
    def missing(self) -> list[Finding]:
        """What this mode lacks: in dev and test a need the dev stack does not stand in for."""
        return [f for f in self.findings if not f.satisfied and (self.mode == "production" or f.need.dev is None)]

    @property
    def problems(self) -> int:
        """Invalid settings, and missing needs other than production's optional features."""
        required = [f for f in self.missing if self.mode != "production" or f.need.level == "required"]
        return len(required) + len(self.invalid)


def check(env_file: Path = LOCAL_ENV_FILE, dotenv: Path = Path(".env")) -> Report:
    """The configuration as the platform would see it in this process's mode."""
    mode = os.environ.get("OPENAGENTS_ENV", "dev")
    defaults = local_defaults(path=env_file, dotenv=dotenv) if mode == "dev" else {}
    explicit = {**read_env_file(dotenv), **os.environ}  # the environment wins over .env, as in Settings
    report = Report(mode)
    try:
        # Read as `dev` so production's own start-up check does not hide the rest behind one error.
        Settings(**{**defaults, "OPENAGENTS_ENV": "dev"})  # type: ignore[arg-type]
    except ValidationError as exc:
        report.invalid = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_input=False)]
    for need in NEEDS:
        present: dict[str, str] = {}
        for name in need.names:
            if explicit.get(name):
                present[name] = "set"
            elif defaults.get(name):
                present[name] = "local default"
        missing = tuple(n for n in need.names if n not in present)
        report.findings.append(Finding(need, present, missing))
    return report


def render(report: Report) -> str:
    lines = [f"mode: {report.mode}  (python {sys.version.split()[0]})"]
    lines += [f"  ✗ setting is not valid: {line}" for line in report.invalid]
    missing = {id(f) for f in report.missing}
    for f in report.findings:
        names = ", ".join(f"{n} ({source})" for n, source in f.present.items())
        if f.satisfied:
            lines.append(f"  ✓ {f.need.title}: {names}")
        elif id(f) not in missing:
            lines.append(f"  ✓ {f.need.title}: {names + '; ' if names else ''}{f.need.dev}")
        else:
            mark = "✗" if f.need.level == "required" or report.mode != "production" else "·"
            need = f"one of {' or '.join(f.missing)}" if f.need.one_of else ", ".join(f.missing)
            kind = "needed" if f.need.level == "required" else "optional"
            it = "them" if len(f.missing) > 1 and not f.need.one_of else "it"
            lines.append(f"  {mark} {f.need.title}: {need} not set ({kind}) — without {it} {f.need.without}")
    if report.mode != "production":
        for tool, why in TOOLS:
            found = shutil.which(tool) or any(os.path.exists(f"/usr/lib/postgresql/{v}/bin/{tool}") for v in range(12, 20))
            lines.append(f"  {'✓' if found else '·'} {tool}: {'found' if found else 'missing'} ({why})")
    if not report.missing and not report.invalid:
        lines.append("ok: nothing missing")
    elif not report.problems:
        lines.append(f"ok: everything required is set; {len(report.missing)} optional feature(s) off")
    else:
        lines.append(f"{report.problems} problem(s): see ✗ above")
    return "\n".join(lines)


def run() -> int:
    report = check()
    print(render(report))
    return 1 if report.problems else 0
