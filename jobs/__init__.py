"""Durable jobs on a Postgres queue (procrastinate, schema `procrastinate`), run by `openagents worker`.

Task functions are thin: they call domain logic in `shared`. Every task is idempotent — delivered or
retried twice, it acts once — and lifecycle tasks hold a per-instance lock (`instance:<id>`).
"""
