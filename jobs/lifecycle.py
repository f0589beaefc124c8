"""Lifecycle jobs."""

from __future__ import annotations

from jobs.app import app  # noqa: F401
