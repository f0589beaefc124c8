"""The cross-tenant matrix, generated from the database catalogue.

For every table in `public` and every operation: another signed-in user cannot read, change, delete
or forge the owner's rows; anon sees only public rows (published listings, public reviews, signing
keys, collections); the service role sees everything. A table with RLS off, without policies, or
without a row in `tenant_rows.seed_rows` fails the run, so later tables are covered automatically.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.support.tenant_rows import Row, seed_rows


def _catalogue(db: Any) -> dict[str, dict[str, Any]]:
    with db.service() as tx:
        tables = tx.sql("""
            select c.relname as name, c.relrowsecurity as rls,
                   (select count(*) from pg_policy p where p.polrelid = c.oid) as policies,
                   array(select a.attname::text from pg_index i join pg_attribute a
                         on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
                         where i.indrelid = c.oid and i.indisprimary) as pk,
                   array(select a.attname::text from pg_attribute a where a.attrelid = c.oid and a.attnum > 0
                         and not a.attisdropped and a.attgenerated = '' and a.attidentity <> 'a') as insertable,
                   array(select cp.column_name::text from information_schema.column_privileges cp
                         where cp.table_schema = 'public' and cp.table_name = c.relname
                           and cp.grantee = 'authenticated' and cp.privilege_type = 'UPDATE') as updatable
            from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = 'public' and c.relkind in ('r', 'p')
            order by c.relname""").fetchall()
    return {t["name"]: t for t in tables}


@pytest.fixture(scope="module")
def world(db: Any, make_user_module: Any) -> dict[str, Any]:
    owner = make_user_module("creator")
    other = make_user_module("creator")
    with db.service() as tx:
        other_agent = tx.sql("insert into agents (creator_id, slug, name, category, status, published_at)"
                             " values (%(o)s, %(s)s, 'Other', 'test', 'published', now()) returning id",
                             {"o": other.id, "s": f"other-{other.id[:8]}"}).fetchone()["id"]
        rows = seed_rows(tx, owner.id, other_agent)
    return {"owner": owner, "other": other, "rows": rows, "catalogue": _catalogue(db)}


@pytest.fixture(scope="module")
def make_user_module(app: Any) -> Any:
    import uuid

    from tests.support.harness import ApiClient

    client = ApiClient(app)

    def make(role: str) -> Any:
        email = f"tenant-{uuid.uuid4().hex[:10]}@test.openagents.dev"
        data = client.post("/api/dev/sign-in", json_body={"email": email, "role": role}).get_json()
        return type("U", (), {"id": data["user_id"], "claims": {"sub": data["user_id"], "role": "authenticated",
                                                                "aud": "authenticated"}})

    return make


def _where(pk: dict[str, Any]) -> tuple[sql.Composed, dict[str, Any]]:
    parts = [sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(f"pk_{k}")) for k in pk]
    return sql.SQL(" and ").join(parts), {f"pk_{k}": v for k, v in pk.items()}


def _visible(tx: Any, table: str, pk: dict[str, Any]) -> bool:
    where, params = _where(pk)
    cols = sql.SQL(", ").join(sql.Identifier(k) for k in pk)
    q = sql.SQL("select {} from {} where {}").format(cols, sql.Identifier(table), where)
    try:
        with tx.savepoint():
            return tx.sql(q.as_string(tx.conn), params).fetchone() is not None
    except psycopg.errors.InsufficientPrivilege:
        return False


def _attempt(tx: Any, statement: str, params: dict[str, Any]) -> str:
    """'denied' (permission error or no row touched) or 'allowed'."""
    try:
        with tx.savepoint():
            cur = tx.sql(statement, params)
            return "allowed" if cur.rowcount > 0 else "denied"
    except psycopg.errors.InsufficientPrivilege:
        return "denied"


def _acting(db: Any, who: str, world: dict[str, Any]) -> Any:
    if who == "anon":
        return db.anon()
    if who == "service":
        return db.service()
    return db.user(world[who].claims)


def test_every_public_table_has_rls_and_policies(world: dict[str, Any]) -> None:
    bad = [f"{n}: rls={t['rls']} policies={t['policies']}" for n, t in world["catalogue"].items()
           if not t["rls"] or t["policies"] == 0]
    assert not bad, "tables without RLS or policies: " + "; ".join(bad)


def test_every_public_table_is_in_the_matrix(world: dict[str, Any]) -> None:
    covered = {table for table, _, _ in world["rows"]}
    missing = sorted(set(world["catalogue"]) - covered)
    assert not missing, f"add rows for these tables to tests/support/tenant_rows.py: {missing}"


@pytest.mark.parametrize("who", ["other", "anon"])
def test_reads(db: Any, world: dict[str, Any], who: str) -> None:
    wrong = []
    with _acting(db, who, world) as tx:
        for table, pk, visibility in world["rows"]:
            expected = visibility == "public"
            if _visible(tx, table, pk) != expected:
                wrong.append(f"{who} {'can' if not expected else 'cannot'} read {table} {visibility} {pk}")
    assert not wrong, "\n".join(wrong)


def test_owner_reads_own_private_rows(db: Any, world: dict[str, Any]) -> None:
    wrong = []
    with _acting(db, "owner", world) as tx:
        for table, pk, visibility in world["rows"]:
            if visibility in ("private", "public") and not _visible(tx, table, pk):
                wrong.append(f"owner cannot read own {table} {pk}")
            if visibility == "internal" and _visible(tx, table, pk):
                wrong.append(f"owner can read internal {table}")
    assert not wrong, "\n".join(wrong)


def test_service_role_reads_everything(db: Any, world: dict[str, Any]) -> None:
    with db.service() as tx:
        hidden = [f"{t} {pk}" for t, pk, _ in world["rows"] if not _visible(tx, t, pk)]
    assert not hidden


@pytest.mark.parametrize("who", ["other", "anon"])
def test_updates_and_deletes(db: Any, world: dict[str, Any], who: str) -> None:
    allowed = []
    catalogue = world["catalogue"]
    for table, pk, _ in world["rows"]:
        where, params = _where(pk)
        cols = catalogue[table]["updatable"] or [c for c in catalogue[table]["insertable"] if c not in pk]
        col = sql.Identifier(cols[0])
        with _acting(db, who, world) as tx:
            upd = sql.SQL("update {} set {} = {} where {}").format(sql.Identifier(table), col, col, where)
            if _attempt(tx, upd.as_string(tx.conn), params) == "allowed":
                allowed.append(f"{who} updated {table} {pk}")
            dele = sql.SQL("delete from {} where {}").format(sql.Identifier(table), where)
            if _attempt(tx, dele.as_string(tx.conn), params) == "allowed":
                allowed.append(f"{who} deleted {table} {pk}")
            tx.conn.rollback()
    assert not allowed, "\n".join(allowed)
    with db.service() as tx:  # and nothing changed underneath
        assert all(_visible(tx, t, pk) for t, pk, _ in world["rows"])


@pytest.mark.parametrize("who", ["other", "anon"])
def test_inserts_forging_the_owner(db: Any, world: dict[str, Any], who: str) -> None:
    """Re-inserting the owner's row (fresh keys) as someone else must be refused by RLS or grants."""
    accepted = []
    by_table: dict[str, list[Row]] = defaultdict(list)
    for row in world["rows"]:
        by_table[row[0]].append(row)
    for table, rows in by_table.items():
        t = world["catalogue"][table]
        for _, pk, _ in rows:
            where, params = _where(pk)
            with db.service() as tx:
                q = sql.SQL("select to_jsonb(x) as j from {} x where {}").format(sql.Identifier(table), where)
                original = tx.sql(q.as_string(tx.conn), params).fetchone()["j"]
            cols = [c for c in t["insertable"] if c not in pk or table in ("profiles", "credit_balances")]
            record = {c: original.get(c) for c in cols}
            col_list = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
            stmt = sql.SQL("insert into {} ({}) select {} from jsonb_populate_record(null::{}, %(rec)s::jsonb)").format(
                sql.Identifier(table), col_list, col_list, sql.Identifier(table))
            with _acting(db, who, world) as tx:
                try:
                    with tx.savepoint():
                        tx.sql(stmt.as_string(tx.conn), {"rec": psycopg.types.json.Jsonb(record)})
                    accepted.append(f"{who} inserted into {table}")
                except psycopg.errors.InsufficientPrivilege:
                    pass
                except psycopg.Error as exc:  # any other failure means RLS let it through to the constraints
                    accepted.append(f"{who} insert into {table} reached constraints: {exc.sqlstate} {exc}")
                tx.conn.rollback()
    assert not accepted, "\n".join(accepted)
