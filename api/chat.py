"""Chat routes."""

from __future__ import annotations

from shared.web import Router, create_app

router = Router("chat")

app = create_app(__name__, [router])
