"""`POST /functions/v1/discord-interactions`: Discord's interactions endpoint, verified by the route
declaration (`auth="discord"`, Ed25519). PING → PONG; a command is recorded once and answered with a
deferred response; a job sends the agent's reply as its follow-up."""

from __future__ import annotations

from typing import Any

from shared import ratelimit
from shared.relays import discord, intake
from shared.web import RequestContext, Router, create_app

router = Router("relays")


@router.post("/functions/v1/discord-interactions", auth="discord", max_body=discord.MAX_BODY, errors=(400, 413), rate_limit=ratelimit.RELAY_INTAKE)
def discord_interactions(ctx: RequestContext) -> dict[str, Any]:
    """A Discord interaction: PING → `{"type": 1}`; commands → deferred (`{"type": 5}`), each id handled once."""
    response, records = discord.parse_interaction(ctx.verified_body)
    intake.record(records)
    return response


app = create_app(__name__, [router])
