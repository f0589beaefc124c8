"""`python -m fly.discord_gateway`: the gateway bot (DISCORD_BOT_TOKEN, DATABASE_URL)."""

from __future__ import annotations

import asyncio
import sys

from fly.discord_gateway.bot import supervise
from shared import logs
from shared.config import get_settings


def main() -> int:
    settings = get_settings()
    logs.configure(settings.LOG_LEVEL)
    logs.register_secrets(settings.secret_values())
    if settings.DISCORD_BOT_TOKEN is None or not settings.DATABASE_URL:
        print("DISCORD_BOT_TOKEN and DATABASE_URL are required", file=sys.stderr)
        return 2
    if settings.METRICS_PORT:
        from shared import metrics

        metrics.serve(settings.METRICS_PORT)
    return asyncio.run(supervise(settings.DISCORD_BOT_TOKEN.get_secret_value()))


if __name__ == "__main__":
    sys.exit(main())
