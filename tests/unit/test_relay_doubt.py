"""Which failed sends may have reached the platform (and so stay in doubt rather than being retried
blindly), and which WhatsApp status callbacks belong to our own reply parts."""

from __future__ import annotations

import json

import httpx
import pytest
from telegram import error

from shared.relays import http, telegram, whatsapp
from shared.relays.models import SendRefused


def _with_cause(exc: Exception, cause: Exception) -> Exception:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(("exc", "maybe_sent"), [
    (_with_cause(error.TimedOut(), httpx.ConnectTimeout("connect")), False),
    (_with_cause(error.TimedOut("Pool timeout: All connections …"), httpx.PoolTimeout("pool")), False),
    (error.NetworkError("httpx.ConnectError: [Errno 111] Connection refused"), False),
    (_with_cause(error.TimedOut(), httpx.ReadTimeout("read")), True),
    (error.NetworkError("httpx.RemoteProtocolError: Server disconnected without sending a response."), True),
])
def test_telegram_network_failures_after_the_request_stay_in_doubt(exc: Exception, maybe_sent: bool) -> None:
    translated = telegram._translated(exc)
    assert isinstance(translated, SendRefused) and translated.retryable
    assert translated.maybe_sent is maybe_sent
    # Before any send (the client's getMe), nothing can have been sent.
    before = telegram._translated(exc, sending=False)
    assert isinstance(before, SendRefused) and before.maybe_sent is False


def test_httpx_failures_before_the_request_went_out() -> None:
    assert http.never_sent(httpx.ConnectError("refused"))
    assert http.never_sent(httpx.PoolTimeout("pool"))
    assert not http.never_sent(httpx.ReadTimeout("read"))
    assert not http.never_sent(httpx.RemoteProtocolError("dropped"))


def _statuses(*items: dict[str, object]) -> bytes:
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp", "statuses": list(items)}}]}]}).encode()


def test_whatsapp_statuses_of_our_parts_only() -> None:
    records, statuses = whatsapp.parse(_statuses(
        {"id": "wamid.A", "status": "sent", "timestamp": "1", "recipient_id": "1", "biz_opaque_callback_data": "whatsapp:7:0"},
        {"id": "wamid.B", "status": "read", "timestamp": "1", "recipient_id": "1", "biz_opaque_callback_data": "whatsapp:7:1"},
        {"id": "wamid.C", "status": "failed", "timestamp": "1", "recipient_id": "1", "biz_opaque_callback_data": "whatsapp:7:2",
         "errors": [{"code": 131026, "title": "Message undeliverable"}]},
        {"id": "wamid.D", "status": "delivered", "timestamp": "1", "recipient_id": "1"},  # not sent by a relay part
        {"id": "wamid.E", "status": "sent", "timestamp": "1", "recipient_id": "1", "biz_opaque_callback_data": "campaign-42"},
    ))
    assert records == []
    assert [(s.key, s.status, s.message_id) for s in statuses] == [("whatsapp:7:0", "sent", "wamid.A"),
                                                                    ("whatsapp:7:1", "read", "wamid.B")]
