"""Scheduled jobs: one table read by vercel.json's crons (checked by a test), the cron entry points
(`GET /api/cron/{name}`) and the workers' periodic tasks."""

from __future__ import annotations

from typing import NamedTuple


class Schedule(NamedTuple):
    task: str
    cron: str
    queue: str


SCHEDULES: dict[str, Schedule] = {
    "health-check": Schedule("health_check", "*/5 * * * *", "lifecycle"),
    "reconcile": Schedule("reconcile", "*/5 * * * *", "lifecycle"),
    "idle-shutdown": Schedule("idle_shutdown", "7 * * * *", "lifecycle"),
    "reap-turns": Schedule("reap_turns", "*/5 * * * *", "billing"),
    "billing-aggregate": Schedule("billing_aggregate", "17 * * * *", "billing"),
    "payouts": Schedule("payouts", "0 6 1 * *", "billing"),
}
