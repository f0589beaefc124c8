"""Workspace routes."""

from __future__ import annotations

from shared.web import Router, create_app

router = Router("workspace")

app = create_app(__name__, [router])
