"""One row in every `public` table for a given user, for the cross-tenant matrix.

Each row is tagged with who may see it: `private` (its owner only), `public` (anyone, like a
published listing) or `internal` (nobody but the service role). A table added by a later migration
without an entry here makes the matrix fail, so new tables cannot skip the cross-tenant test.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

Row = tuple[str, dict[str, Any], str]  # (table, primary key values, visibility)


def _one(tx: Any, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    row = tx.sql(sql, params).fetchone()
    assert row is not None, sql
    return row


def seed_rows(tx: Any, owner: str, other_creator_agent: str) -> list[Row]:
    """`tx` is a service-role transaction; `owner` is a creator user; `other_creator_agent` is a
    published agent of someone else (for reviews)."""
    u = uuid.uuid4().hex[:10]
    rows: list[Row] = [("profiles", {"id": owner}, "private"),
                       ("credit_balances", {"user_id": owner}, "private")]
    trial = _one(tx, "select id from credit_transactions where user_id = %(o)s and kind = 'trial'", {"o": owner})
    rows.append(("credit_transactions", {"id": trial["id"]}, "private"))

    p = _one(tx, "insert into projects (owner_id, name) values (%(o)s, 'p') returning id", {"o": owner})
    rows.append(("projects", {"id": p["id"]}, "private"))
    t = _one(tx, "insert into teams (project_id, owner_id, name) values (%(p)s, %(o)s, 't') returning id",
             {"p": p["id"], "o": owner})
    rows.append(("teams", {"id": t["id"]}, "private"))
    n = _one(tx, "insert into notifications (user_id, kind, title) values (%(o)s, 'test', 'hi') returning id", {"o": owner})
    rows.append(("notifications", {"id": n["id"]}, "private"))

    draft = _one(tx, "insert into agents (creator_id, slug, name, category) values (%(o)s, %(s)s, 'Draft', 'test')"
                     " returning id", {"o": owner, "s": f"draft-{u}"})
    rows.append(("agents", {"id": draft["id"]}, "private"))
    pub = _one(tx, "insert into agents (creator_id, slug, name, category, status, published_at)"
                   " values (%(o)s, %(s)s, 'Pub', 'test', 'published', now()) returning id", {"o": owner, "s": f"pub-{u}"})
    rows.append(("agents", {"id": pub["id"]}, "public"))
    v_draft = _one(tx, "insert into agent_versions (agent_id, creator_id, version, openclaw_version)"
                       " values (%(a)s, %(o)s, '0.1.0', '2026.9.6') returning id", {"a": draft["id"], "o": owner})
    rows.append(("agent_versions", {"id": v_draft["id"]}, "private"))
    v_pub = _one(tx, "insert into agent_versions (agent_id, creator_id, version, openclaw_version, status, published_at)"
                     " values (%(a)s, %(o)s, '1.0.0', '2026.9.6', 'published', now()) returning id",
                 {"a": pub["id"], "o": owner})
    rows.append(("agent_versions", {"id": v_pub["id"]}, "public"))
    h = hashlib.sha256(u.encode()).hexdigest()
    sk = _one(tx, "insert into agent_skills (version_id, creator_id, name, content_hash, permissions_hash)"
                  " values (%(v)s, %(o)s, 'skill', %(h)s, %(h)s) returning id", {"v": v_pub["id"], "o": owner, "h": h})
    rows.append(("agent_skills", {"id": sk["id"]}, "private"))
    key = _one(tx, "insert into signing_keys (key_id, public_key, status) values (%(k)s, 'pk', 'retired')"
                   " returning key_id", {"k": f"k{u}"})
    rows.append(("signing_keys", {"key_id": key["key_id"]}, "public"))
    sig = _one(tx, "insert into skill_signatures (skill_id, creator_id, key_id, content_hash, permissions_hash, signature)"
                   " values (%(s)s, %(o)s, %(k)s, %(h)s, %(h)s, 'sig') returning id",
               {"s": sk["id"], "o": owner, "k": key["key_id"], "h": h})
    rows.append(("skill_signatures", {"id": sig["id"]}, "private"))
    col = _one(tx, "insert into collections (slug, title) values (%(s)s, 'c') returning id", {"s": f"c-{u}"})
    rows.append(("collections", {"id": col["id"]}, "public"))
    tx.sql("insert into collection_agents (collection_id, agent_id) values (%(c)s, %(a)s)", {"c": col["id"], "a": pub["id"]})
    rows.append(("collection_agents", {"collection_id": col["id"], "agent_id": pub["id"]}, "public"))
    tx.sql("insert into collection_agents (collection_id, agent_id) values (%(c)s, %(a)s)", {"c": col["id"], "a": draft["id"]})
    rows.append(("collection_agents", {"collection_id": col["id"], "agent_id": draft["id"]}, "private-nobody"))
    rv = _one(tx, "insert into agent_reviews (agent_id, user_id, rating) values (%(a)s, %(o)s, 4) returning id",
              {"a": other_creator_agent, "o": owner})
    rows.append(("agent_reviews", {"id": rv["id"]}, "public"))
    rv2 = _one(tx, "insert into agent_reviews (agent_id, user_id, rating, is_public) values (%(a)s, %(o)s, 2, false)"
                   " returning id", {"a": pub["id"], "o": owner})
    rows.append(("agent_reviews", {"id": rv2["id"]}, "private"))

    inst = _one(tx, "insert into agent_instances (user_id, agent_id) values (%(o)s, %(a)s) returning id",
                {"o": owner, "a": pub["id"]})
    rows.append(("agent_instances", {"id": inst["id"]}, "private"))
    tx.sql("insert into team_agents (team_id, instance_id, owner_id) values (%(t)s, %(i)s, %(o)s)",
           {"t": t["id"], "i": inst["id"], "o": owner})
    rows.append(("team_agents", {"team_id": t["id"], "instance_id": inst["id"]}, "private"))
    s = _one(tx, "insert into sessions (user_id, instance_id) values (%(o)s, %(i)s) returning id",
             {"o": owner, "i": inst["id"]})
    rows.append(("sessions", {"id": s["id"]}, "private"))
    turn = _one(tx, "insert into turns (session_id, user_id, instance_id, client_message_id)"
                    " values (%(s)s, %(o)s, %(i)s, %(c)s) returning id", {"s": s["id"], "o": owner, "i": inst["id"], "c": u})
    rows.append(("turns", {"id": turn["id"]}, "private"))
    m = _one(tx, "insert into messages (session_id, user_id, turn_id, role, content) values (%(s)s, %(o)s, %(t)s, 'user', 'hi')"
                 " returning id", {"s": s["id"], "o": owner, "t": turn["id"]})
    rows.append(("messages", {"id": m["id"]}, "private"))
    tx.sql("insert into turn_events (turn_id, seq, user_id, event, data) values (%(t)s, 1, %(o)s, 'token', '{}')",
           {"t": turn["id"], "o": owner})
    rows.append(("turn_events", {"turn_id": turn["id"], "seq": 1}, "private"))
    ue = _one(tx, "insert into usage_events (user_id, instance_id, agent_id, turn_id, source_request_id)"
                  " values (%(o)s, %(i)s, %(a)s, %(t)s, %(r)s) returning id",
              {"o": owner, "i": inst["id"], "a": pub["id"], "t": turn["id"], "r": f"req-{u}"})
    rows.append(("usage_events", {"id": ue["id"]}, "private"))
    po = _one(tx, "insert into payouts (creator_id, period, credits, amount_cents, idempotency_key)"
                  " values (%(o)s, '2026-10', 100, 85, %(k)s) returning id", {"o": owner, "k": f"payout-{u}"})
    rows.append(("payouts", {"id": po["id"]}, "private"))
    ce = _one(tx, "insert into creator_earnings (creator_id, agent_id, turn_id, credits, payout_id)"
                  " values (%(o)s, %(a)s, %(t)s, 3, %(p)s) returning id",
              {"o": owner, "a": pub["id"], "t": turn["id"], "p": po["id"]})
    rows.append(("creator_earnings", {"id": ce["id"]}, "private"))
    mr = _one(tx, "insert into meter_reports (user_id, period_start, value, identifier)"
                  " values (%(o)s, date_trunc('hour', now()), 5, %(k)s) returning id", {"o": owner, "k": f"meter-{u}"})
    rows.append(("meter_reports", {"id": mr["id"]}, "private"))
    rc = _one(tx, "insert into relay_connections (user_id, instance_id, relay, external_user_id, external_chat_id)"
                  " values (%(o)s, %(i)s, 'telegram', %(x)s, %(x)s) returning id", {"o": owner, "i": inst["id"], "x": u})
    rows.append(("relay_connections", {"id": rc["id"]}, "private"))
    lt = _one(tx, "insert into relay_link_tokens (user_id, instance_id, relay, token_hash, expires_at)"
                  " values (%(o)s, %(i)s, 'telegram', %(h)s, now() + interval '1 hour') returning id",
              {"o": owner, "i": inst["id"], "h": h})
    rows.append(("relay_link_tokens", {"id": lt["id"]}, "private"))
    ak = _one(tx, "insert into api_keys (user_id, provider, secret_id, last_four) values (%(o)s, 'openai', gen_random_uuid(), 'abcd')"
                  " returning id", {"o": owner})
    rows.append(("api_keys", {"id": ak["id"]}, "private"))
    pt = _one(tx, "insert into proxy_tokens (instance_id, user_id, token_hash) values (%(i)s, %(o)s, %(h)s) returning id",
              {"i": inst["id"], "o": owner, "h": h})
    rows.append(("proxy_tokens", {"id": pt["id"]}, "private"))
    tx.sql("insert into ssh_configs (instance_id, user_id, secret_id, host, username, allow)"
           " values (%(i)s, %(o)s, gen_random_uuid(), 'ssh.example.test', 'agent', '{*}')",
           {"i": inst["id"], "o": owner})
    rows.append(("ssh_configs", {"instance_id": inst["id"]}, "private"))
    sa = _one(tx, "insert into ssh_audit_log (instance_id, user_id, command, allowed) values (%(i)s, %(o)s, 'ls', true)"
                  " returning id", {"i": inst["id"], "o": owner})
    rows.append(("ssh_audit_log", {"id": sa["id"]}, "private"))
    al = _one(tx, "insert into audit_log (actor_id, action) values (%(o)s, 'test') returning id", {"o": owner})
    rows.append(("audit_log", {"id": al["id"]}, "private"))

    se = _one(tx, "insert into stripe_events (id, type, created, payload) values (%(i)s, 'x', now(), '{}') returning id",
              {"i": f"evt_{u}"})
    rows.append(("stripe_events", {"id": se["id"]}, "internal"))
    ri = _one(tx, "insert into relay_inbox (relay, platform_id, payload) values ('telegram', %(p)s, '{}') returning id",
              {"p": u})
    rows.append(("relay_inbox", {"id": ri["id"]}, "internal"))
    ro = _one(tx, "insert into relay_outbox (relay, idempotency_key, chat_id, payload) values ('telegram', %(k)s, '1', '{}')"
                  " returning id", {"k": u})
    rows.append(("relay_outbox", {"id": ro["id"]}, "internal"))
    rl = _one(tx, "insert into rate_limits (key, window_start, count) values (%(k)s, now(), 1) returning key, window_start",
              {"k": u})
    rows.append(("rate_limits", {"key": rl["key"], "window_start": rl["window_start"]}, "internal"))
    wp = _one(tx, "insert into warm_pool (fly_app, region) values (%(a)s, 'iad') returning id", {"a": f"wp-{u}"})
    rows.append(("warm_pool", {"id": wp["id"]}, "internal"))
    rd = _one(tx, "insert into review_decisions (version_id, creator_id, decision, reason) values (%(v)s, %(o)s,"
                  " 'rejected', 'no') returning id", {"v": v_draft["id"], "o": owner})
    rows.append(("review_decisions", {"id": rd["id"]}, "private"))
    ra = _one(tx, "insert into review_appeals (decision_id, version_id, creator_id, message) values (%(d)s, %(v)s,"
                  " %(o)s, 'please') returning id", {"d": rd["id"], "v": v_draft["id"], "o": owner})
    rows.append(("review_appeals", {"id": ra["id"]}, "private"))
    vr = _one(tx, "insert into version_rollouts (version_id, agent_id, creator_id, first_stage_percent)"
                  " values (%(v)s, %(a)s, %(o)s, 10) returning version_id", {"v": v_pub["id"], "a": pub["id"], "o": owner})
    rows.append(("version_rollouts", {"version_id": vr["version_id"]}, "private"))
    tx.sql("insert into version_rollout_instances (version_id, instance_id, stage) values (%(v)s, %(i)s, 1)",
           {"v": v_pub["id"], "i": inst["id"]})
    rows.append(("version_rollout_instances", {"version_id": v_pub["id"], "instance_id": inst["id"]}, "internal"))
    return rows


def as_json(value: Any) -> str:
    return json.dumps(value, default=str)
