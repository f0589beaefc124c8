"""Platform routes."""

from __future__ import annotations

from shared.web import Router, create_app

router = Router("platform")

app = create_app(__name__, [router])
