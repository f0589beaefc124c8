"""`POST /functions/v1/slack-events` and `POST /functions/v1/slack-commands`: Slack's Events API and slash
commands, verified by the route declaration (`auth="slack"`, v0 signing), recorded once and answered
at once; a job does the work. Retries (`X-Slack-Retry-Num`) carry the same event id and do nothing."""

from __future__ import annotations

from pydantic import Field

from shared import ratelimit
from shared.models import Model
from shared.relays import intake, slack
from shared.web import RequestContext, Router, create_app

router = Router("relays")


class EventReceived(Model):
    challenge: str | None = Field(default=None, description="url_verification: the challenge, echoed")
    received: int = 0
    recorded: int = 0


class CommandReceived(Model):
    response_type: str | None = Field(default=None, description="`ephemeral`: only the invoking user sees it")
    text: str | None = None
    received: int = 0
    recorded: int = 0


@router.post("/functions/v1/slack-events", auth="slack", response=EventReceived, max_body=slack.MAX_BODY,
             errors=(400, 413), rate_limit=ratelimit.RELAY_INTAKE)
def slack_events(ctx: RequestContext) -> EventReceived:
    """Slack Events API deliveries (`url_verification` answered with its challenge); each event id once."""
    answer, records = slack.parse_event(ctx.verified_body)
    ids = intake.record(records)
    return EventReceived(challenge=(answer or {}).get("challenge"), received=len(records),
                         recorded=sum(1 for i in ids if i is not None))


@router.post("/functions/v1/slack-commands", auth="slack", response=CommandReceived, max_body=slack.MAX_BODY,
             errors=(400, 413), rate_limit=ratelimit.RELAY_INTAKE)
def slack_commands(ctx: RequestContext) -> CommandReceived:
    """A slash command (form-encoded); acknowledged at once, answered in the channel by the agent."""
    answer, records = slack.parse_command(ctx.verified_body)
    ids = intake.record(records)
    return CommandReceived(**(answer or {}), received=len(records), recorded=sum(1 for i in ids if i is not None))


app = create_app(__name__, [router])
