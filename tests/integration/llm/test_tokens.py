"""Proxy tokens: one per owner, kept in Vault and looked up by hash; a warm-pool unit's token acts for
the instance that claims the unit and for nobody before; revoked tokens are refused."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from shared.llm import tokens
from tests.support.billing_helpers import world
from tests.support.harness import RECORDER


def test_one_token_per_instance_however_many_ask(db, user):
    w = world(db, user_id=user.id)
    with ThreadPoolExecutor(6) as pool:
        made = set(pool.map(lambda _: tokens.ensure_token(w.instance_id), range(12)))
    assert len(made) == 1
    (token,) = made
    RECORDER.secret(token)
    with db.service() as tx:
        rows = tx.sql("select token_hash, secret_id from proxy_tokens where instance_id = %(i)s",
                      {"i": w.instance_id}).fetchall()
        secrets = tx.sql("select count(*) as n from vault.secrets where name = %(n)s",
                         {"n": tokens.secret_name(w.instance_id)}).fetchone()["n"]
    assert len(rows) == 1 and secrets == 1 and rows[0]["token_hash"] == tokens.hash_token(token)
    caller = tokens.resolve(token)
    assert caller is not None and (caller.instance_id, caller.user_id) == (w.instance_id, user.id)


def test_a_warm_pool_units_token_acts_for_the_instance_that_claims_it(db, user):
    w = world(db, user_id=user.id)
    with db.service() as tx:
        unit = str(tx.sql("insert into warm_pool (fly_app, region, status) values (%(a)s, 'iad', 'ready') returning id",
                          {"a": f"oa-pool-test-{uuid.uuid4().hex[:8]}"}).fetchone()["id"])
    token = tokens.ensure_token(f"pool-{unit}")
    RECORDER.secret(token)
    assert tokens.resolve(token) is None  # nobody hired it yet
    with db.service() as tx:
        tx.sql("update warm_pool set status = 'claimed', instance_id = %(i)s, claimed_at = now() where id = %(u)s",
               {"i": w.instance_id, "u": unit})
    caller = tokens.resolve(token)
    assert caller is not None and caller.instance_id == w.instance_id and caller.user_id == user.id


def test_revoked_tokens_are_refused_and_their_secrets_gone(db, user):
    w = world(db, user_id=user.id)
    token = tokens.ensure_token(w.instance_id)
    RECORDER.secret(token)
    assert tokens.resolve(token) is not None
    assert tokens.revoke_instance(w.instance_id) == 1
    assert tokens.resolve(token) is None
    with db.service() as tx:
        left = tx.sql("select count(*) as n from vault.secrets where name = %(n)s",
                      {"n": tokens.secret_name(w.instance_id)}).fetchone()["n"]
    assert left == 0
    fresh = tokens.ensure_token(w.instance_id)  # a new one can be made afterwards
    RECORDER.secret(fresh)
    assert fresh != token and tokens.resolve(fresh) is not None


def test_a_claimed_units_token_is_adopted_by_the_instance_on_first_use(db, user):
    w = world(db, user_id=user.id)
    with db.service() as tx:
        unit = str(tx.sql("insert into warm_pool (fly_app, region, status, instance_id) values (%(a)s, 'iad',"
                          " 'claimed', %(i)s) returning id",
                          {"a": f"oa-pool-test-{uuid.uuid4().hex[:8]}", "i": w.instance_id}).fetchone()["id"])
    token = tokens.ensure_token(f"pool-{unit}")
    RECORDER.secret(token)
    assert tokens.resolve(token) is not None
    with db.service() as tx:
        row = tx.sql("select instance_id, user_id, warm_pool_id from proxy_tokens where token_hash = %(h)s",
                     {"h": tokens.hash_token(token)}).fetchone()
    assert (str(row["instance_id"]), str(row["user_id"]), row["warm_pool_id"]) == (w.instance_id, user.id, None)
    assert tokens.ensure_token(w.instance_id) == token  # the instance's token now: re-given on update
    assert tokens.revoke_instance(w.instance_id) == 1 and tokens.resolve(token) is None


def test_a_tokens_secret_goes_with_its_row(db):
    with db.service() as tx:
        unit = str(tx.sql("insert into warm_pool (fly_app, region, status) values (%(a)s, 'iad', 'ready') returning id",
                          {"a": f"oa-pool-test-{uuid.uuid4().hex[:8]}"}).fetchone()["id"])
    RECORDER.secret(tokens.ensure_token(f"pool-{unit}"))
    name = tokens.secret_name(f"pool-{unit}")
    with db.service() as tx:
        assert tx.sql("select count(*) as n from vault.secrets where name = %(n)s", {"n": name}).fetchone()["n"] == 1
        tx.sql("delete from warm_pool where id = %(u)s", {"u": unit})  # a retired unit: the row cascades
        assert tx.sql("select count(*) as n from vault.secrets where name = %(n)s", {"n": name}).fetchone()["n"] == 0
