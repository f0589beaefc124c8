"""Schema rules that are not about tenancy: the ledger is append-only, account deletion cascades."""

import psycopg
import pytest


def test_ledger_is_append_only_but_account_deletion_cascades(db, user):
    with db.service() as tx:
        for stmt in ("update credit_transactions set topup_delta = 5 where user_id = %(u)s",
                     "delete from credit_transactions where user_id = %(u)s"):
            with pytest.raises(psycopg.errors.RestrictViolation), tx.savepoint():
                tx.sql(stmt, {"u": user.id})
        assert tx.sql("select count(*) as n from credit_transactions where user_id = %(u)s", {"u": user.id}).fetchone()["n"] == 1
        tx.sql("delete from auth.users where id = %(u)s", {"u": user.id})
        assert tx.sql("select count(*) as n from profiles where id = %(u)s", {"u": user.id}).fetchone()["n"] == 0


def test_sign_up_grants_the_trial(db, user):
    with db.user({"sub": user.id, "role": "authenticated"}) as tx:
        bal = tx.sql("select subscription_credits, topup_credits, subscription_expires_at > now() + interval '6 days' as ok"
                     " from credit_balances").fetchall()
    assert bal == [{"subscription_credits": 50, "topup_credits": 0, "ok": True}]
