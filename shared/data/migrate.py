"""Applies the local Supabase bootstrap (where needed), the migrations, and the seed.

Migrations are recorded in `supabase_migrations.schema_migrations` like the Supabase CLI does, so a
database migrated here and one migrated by `supabase db push` agree on what has been applied.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from shared.config import PROJECT_ROOT

SUPABASE_DIR = PROJECT_ROOT / "supabase"
MIGRATIONS_DIR = SUPABASE_DIR / "migrations"
BOOTSTRAP = SUPABASE_DIR / "bootstrap" / "local.sql"
SEED = SUPABASE_DIR / "seed.sql"  # people, projects, teams
SEED_LISTINGS = SUPABASE_DIR / "seed" / "listings.sql"  # reviews and collections of the demo agents
_NAME = re.compile(r"^(\d{14})_(\w+)\.sql$")
_LOCK_KEY = 0x6F70656E  # advisory lock: one migrator at a time


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path


def migrations() -> list[Migration]:
    out = []
    for p in sorted(MIGRATIONS_DIR.glob("*.sql")):
        m = _NAME.match(p.name)
        if not m:
            raise ValueError(f"migration file {p.name} is not named <14 digits>_<name>.sql")
        out.append(Migration(m.group(1), m.group(2), p))
    return out


_MARK = "openagents local bootstrap"


def _one(conn: psycopg.Connection[tuple[Any, ...]], sql: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def _needs_bootstrap(conn: psycopg.Connection[tuple[Any, ...]]) -> bool:
    """True on a plain Postgres, and on one this bootstrap set up before (it is idempotent, so a
    newer version of it is applied again); False on real Supabase, where the platform provides it."""
    has_platform = _one(conn, "select to_regclass('auth.users') is not null")
    if not has_platform:
        return True
    return bool(_one(conn, "select obj_description('vault'::regnamespace, 'pg_namespace') = %s", (_MARK,)))


def migrate(url: str, *, log: Callable[[str], object] = print) -> list[str]:
    applied_now: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            if _needs_bootstrap(conn):
                log("bootstrap: supplying Supabase's roles, auth, vault and realtime locally")
                with conn.transaction():
                    conn.execute(BOOTSTRAP.read_text())
                    conn.execute(f"comment on schema vault is '{_MARK}'")
            conn.execute("create schema if not exists supabase_migrations")
            conn.execute(
                "create table if not exists supabase_migrations.schema_migrations"
                " (version text primary key, statements text[], name text)"
            )
            done = {r[0] for r in conn.execute("select version from supabase_migrations.schema_migrations")}
            for m in migrations():
                if m.version in done:
                    continue
                sql = m.path.read_text()
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute(
                        "insert into supabase_migrations.schema_migrations (version, statements, name)"
                        " values (%s, %s, %s)", (m.version, [sql], m.name),
                    )
                applied_now.append(m.path.name)
                log(f"migrated: {m.path.name}")
            if _apply_job_queue_schema(conn):
                applied_now.append("job queue schema")
                log("migrated: job queue schema (procrastinate) in schema `procrastinate`")
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def seed(url: str, *, log: Callable[[str], object] = print, signing_key: str | None = None) -> None:
    """Demo data, idempotently: the SQL seed's people, then the demo agents published from bundles by
    the creator pipeline (`shared.platform.seed`: signed with `signing_key`, else SKILL_SIGNING_KEY),
    then the listings' reviews and collections."""
    from shared.platform.seed import seed_agents

    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute(SEED.read_text())
    report = seed_agents(url, signing_key=signing_key)
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute(SEED_LISTINGS.read_text())
    log(f"seeded demo data ({report.summary()})")


def create_database(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            conn.execute(f'create database "{name}"')


def _apply_job_queue_schema(conn: psycopg.Connection[tuple[Any, ...]]) -> bool:
    """Installs procrastinate's own schema into the private `procrastinate` schema (not exposed by
    PostgREST). Its functions get a pinned search_path so that deferring a job from any transaction
    (e.g. together with the row that needs it) resolves procrastinate's tables."""
    if _one(conn, "select to_regclass('procrastinate.procrastinate_jobs') is not null"):
        return False
    from procrastinate.schema import SchemaManager

    with conn.transaction():
        conn.execute("create schema if not exists procrastinate")
        conn.execute("set local search_path = procrastinate, public")
        conn.execute(SchemaManager.get_schema())
        for (oid,) in conn.execute(
            "select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
            " where n.nspname = 'procrastinate'"
        ).fetchall():
            conn.execute(f"alter function {oid} set search_path = procrastinate, public")
        conn.execute("revoke all on schema procrastinate from public")
        conn.execute("grant usage on schema procrastinate to service_role")
        conn.execute("grant all on all tables in schema procrastinate to service_role")
        conn.execute("grant all on all sequences in schema procrastinate to service_role")
        conn.execute("grant execute on all functions in schema procrastinate to service_role")
    return True
