-- The ledger's three SQL helpers become plpgsql, bodies and signatures unchanged (issue 14).
-- Why: Postgres 15 cannot inline an SQL function that carries a SET clause (every function here
-- pins `search_path = ''`), and it plans such a function's query afresh on each call; plpgsql keeps
-- its plans for the session. Measured inside a plpgsql caller, the way every ledger function and the
-- chat opening call them: `credits_held` 104–113 → 15 µs a call, `live_subscription` 20–22 → 4.5,
-- and `ledger_find` is the same kind of one-query lookup (every posting calls it first). Each
-- answers what it answered: `ledger_find` of an unknown key gives an entry whose fields are all
-- null, which is what every caller tests (`e.id is not null`).

create or replace function private.credits_held(p_user uuid, p_except uuid) returns integer
language plpgsql stable set search_path = '' as $$
begin
  return (select coalesce(sum(t.hold_credits), 0)::integer from public.turns t
           where t.user_id = p_user and t.held_at is not null and t.settled_at is null
             and (p_except is null or t.id <> p_except));
end $$;

create or replace function private.live_subscription(b public.credit_balances) returns integer
language plpgsql stable set search_path = '' as $$
begin
  return case when b.subscription_expires_at is null or b.subscription_expires_at > now()
              then b.subscription_credits else 0 end;
end $$;

create or replace function private.ledger_find(p_key text) returns private.ledger_entry
language plpgsql stable set search_path = '' as $$
declare
  e private.ledger_entry;
begin
  select t.id, t.kind, t.subscription_delta, t.topup_delta, t.shortfall, t.subscription_after, t.topup_after, true
    into e
    from public.credit_transactions t where t.idempotency_key = p_key;
  return e;
end $$;
