"""Applies the local Supabase bootstrap (where needed), the migrations, and the seed.

Migrations are recorded in `supabase_migrations.schema_migrations` like the Supabase CLI does, so a
database migrated here and one migrated by `supabase db push` agree on what has been applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from shared.config import PROJECT_ROOT

SUPABASE_DIR = PROJECT_ROOT / "supabase"
MIGRATIONS_DIR = SUPABASE_DIR / "migrations"
BOOTSTRAP = SUPABASE_DIR / "bootstrap" / "local.sql"
SEED = SUPABASE_DIR / "seed.sql"
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


def _is_supabase(conn: psycopg.Connection) -> bool:
    return conn.execute("select to_regclass('auth.users') is not null and to_regnamespace('vault') is not null"
                        " and to_regprocedure('realtime.send(jsonb,text,text,boolean)') is not null").fetchone()[0]


def migrate(url: str, *, log=print) -> list[str]:
    applied_now: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            if not _is_supabase(conn):
                log("bootstrap: supplying Supabase's roles, auth, vault and realtime locally")
                with conn.transaction():
                    conn.execute(BOOTSTRAP.read_text())
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
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def seed(url: str, *, log=print) -> None:
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute(SEED.read_text())
    log("seeded demo data")


def create_database(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            conn.execute(f'create database "{name}"')
