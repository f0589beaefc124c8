"""`GET/POST /functions/v1/whatsapp-webhook`: Meta's subscription handshake and WhatsApp notifications,
verified by the route declarations (`auth="whatsapp-handshake"`, `auth="whatsapp"`), recorded once per
message and answered at once; a job does the work."""

from __future__ import annotations

from flask import Response, request

from shared import ratelimit
from shared.relays import intake, whatsapp
from shared.relays.receipts import Received
from shared.web import RequestContext, Router, create_app

router = Router("relays")


@router.get("/functions/v1/whatsapp-webhook", auth="whatsapp-handshake", errors=(403,))
def whatsapp_handshake(ctx: RequestContext) -> Response:
    """Meta's callback check: the `hub.challenge`, echoed as plain text, when the verify token matches."""
    return Response(request.args.get("hub.challenge", ""), mimetype="text/plain")


@router.post("/functions/v1/whatsapp-webhook", auth="whatsapp", response=Received, max_body=whatsapp.MAX_BODY,
             errors=(400, 413), rate_limit=ratelimit.RELAY_INTAKE)
def whatsapp_webhook(ctx: RequestContext) -> Received:
    """WhatsApp Cloud API notifications (signed `X-Hub-Signature-256`); each message id is handled once,
    and the status callbacks of our own replies are kept on their outbox parts."""
    records, statuses = whatsapp.parse(ctx.verified_body)
    whatsapp.record_statuses(statuses)
    return Received.of(intake.record(records), len(records))


app = create_app(__name__, [router])
