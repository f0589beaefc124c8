"""`POST /functions/v1/telegram-webhook`: Telegram's updates, verified by the route declaration
(`auth="telegram"`, the secret token), recorded once and answered at once; a job does the work."""

from __future__ import annotations

from shared import ratelimit
from shared.relays import intake, telegram
from shared.relays.receipts import Received
from shared.web import RequestContext, Router, create_app

router = Router("relays")


@router.post("/functions/v1/telegram-webhook", auth="telegram", response=Received, max_body=telegram.MAX_BODY,
             errors=(400, 413), rate_limit=ratelimit.RELAY_INTAKE)
def telegram_webhook(ctx: RequestContext) -> Received:
    """A Telegram update (`setWebhook` with `secret_token`); each `update_id` is handled once."""
    records = telegram.parse_update(ctx.verified_body)
    return Received.of(intake.record(records), len(records))


app = create_app(__name__, [router])
