-- Credit ledger (ARCHITECTURE §5b). Every movement of credits goes through the functions below, and
-- each one does, in one transaction: lock the user's balance row (`for update`, so movements of one
-- user serialise while different users never contend), check the idempotency key, change the balance
-- and append exactly one ledger entry whose `*_after` columns equal the new balance. The balance
-- columns keep their `>= 0` checks, so a bug can fail a movement but never make a balance negative;
-- what cannot be taken is recorded as `shortfall` on the entry instead.
--
-- Subscription credits stop being spendable at `subscription_expires_at` (debits treat them as 0
-- from then on). The ledger entry that removes them (`subscription_expiry`) is written when the next
-- plan grant arrives (leftovers beyond the rollover cap) or, for users without a renewal, by the
-- hourly sweep after a grace period — so a renewal paid an hour after the period ended still sees
-- the leftover it may roll over. The ledger always sums to the balance row.
--
-- The functions live in `private` (not exposed by PostgREST) and only `service_role` may run them.

-- Looking up a top-up by its PaymentIntent (refunds) and a turn's ledger entry.
create index credit_transactions_payment_intent_idx on public.credit_transactions ((reference ->> 'payment_intent'))
  where kind in ('topup', 'refund_clawback');
create index credit_transactions_turn_idx on public.credit_transactions (turn_id) where turn_id is not null;
-- The hourly meter job sends unreported rows; the webhook job finds unprocessed events.
create index meter_reports_unreported_idx on public.meter_reports (id) where reported_at is null;
create index meter_reports_period_idx on public.meter_reports (period_start);
create index stripe_events_unprocessed_idx on public.stripe_events (received_at) where processed_at is null;
-- Sweeping expired subscription credits.
create index credit_balances_expiry_idx on public.credit_balances (subscription_expires_at)
  where subscription_credits > 0;

-- What every ledger function returns: the entry it wrote (or found, for a replayed key).
create type private.ledger_entry as (
  id bigint,
  kind text,
  subscription_delta integer,
  topup_delta integer,
  shortfall integer,
  subscription_after integer,
  topup_after integer,
  duplicate boolean
);

-- The balance row, locked. A user always has one (the sign-up trigger makes it); users who predate
-- it get an empty one rather than an error.
create or replace function private.ledger_lock(p_user uuid) returns public.credit_balances
language plpgsql set search_path = '' as $$
declare b public.credit_balances;
begin
  select * into b from public.credit_balances where user_id = p_user for update;
  if not found then
    insert into public.credit_balances (user_id) values (p_user) on conflict (user_id) do nothing;
    select * into b from public.credit_balances where user_id = p_user for update;
  end if;
  return b;
end $$;

-- The entry already written under this key, if any (the caller holds the balance lock, so the answer
-- cannot change before it writes).
create or replace function private.ledger_find(p_key text) returns private.ledger_entry
language sql stable set search_path = '' as $$
  select t.id, t.kind, t.subscription_delta, t.topup_delta, t.shortfall, t.subscription_after, t.topup_after, true
  from public.credit_transactions t where t.idempotency_key = p_key
$$;

-- Applies deltas to the locked balance row and appends the matching entry. Callers hold the lock.
create or replace function private.ledger_post(
  p_user uuid, p_kind text, p_key text, p_subscription_delta integer, p_topup_delta integer,
  p_shortfall integer, p_turn uuid, p_reference jsonb, p_set_expiry boolean, p_expires_at timestamptz
) returns private.ledger_entry
language plpgsql set search_path = '' as $$
declare
  sub_after integer;
  top_after integer;
  new_id bigint;
begin
  update public.credit_balances b
     set subscription_credits = b.subscription_credits + p_subscription_delta,
         topup_credits = b.topup_credits + p_topup_delta,
         subscription_expires_at = case when p_set_expiry then p_expires_at else b.subscription_expires_at end,
         updated_at = now()
   where b.user_id = p_user
  returning b.subscription_credits, b.topup_credits into sub_after, top_after;
  insert into public.credit_transactions (user_id, kind, subscription_delta, topup_delta, shortfall,
                                          idempotency_key, turn_id, reference, subscription_after, topup_after)
  values (p_user, p_kind, p_subscription_delta, p_topup_delta, p_shortfall, p_key, p_turn,
          coalesce(p_reference, '{}'::jsonb), sub_after, top_after)
  returning id into new_id;
  return row(new_id, p_kind, p_subscription_delta, p_topup_delta, p_shortfall, sub_after, top_after, false)::private.ledger_entry;
end $$;

-- Subscription credits a debit may take right now.
create or replace function private.live_subscription(b public.credit_balances) returns integer
language sql stable set search_path = '' as $$
  select case when b.subscription_expires_at is null or b.subscription_expires_at > now()
              then b.subscription_credits else 0 end
$$;

-- Debit: subscription credits first (unless expired), then top-up; the rest is a recorded shortfall.
create or replace function private.ledger_debit(p_user uuid, p_amount integer, p_key text, p_turn uuid,
                                                p_reference jsonb) returns private.ledger_entry
language plpgsql set search_path = '' as $$
declare
  b public.credit_balances;
  e private.ledger_entry;
  take_sub integer;
  take_top integer;
begin
  if p_amount is null or p_amount < 0 then
    raise exception 'debit amount must be >= 0, got %', p_amount using errcode = 'invalid_parameter_value';
  end if;
  b := private.ledger_lock(p_user);
  e := private.ledger_find(p_key);
  if e.id is not null then return e; end if;
  take_sub := least(private.live_subscription(b), p_amount);
  take_top := least(b.topup_credits, p_amount - take_sub);
  return private.ledger_post(p_user, 'debit', p_key, -take_sub, -take_top, p_amount - take_sub - take_top, p_turn,
                             coalesce(p_reference, '{}'::jsonb) || jsonb_build_object('amount', p_amount), false, null);
end $$;

-- Top-up credits (never expire).
create or replace function private.ledger_topup(p_user uuid, p_credits integer, p_key text, p_reference jsonb)
returns private.ledger_entry
language plpgsql set search_path = '' as $$
declare e private.ledger_entry;
begin
  if p_credits is null or p_credits <= 0 then
    raise exception 'top-up credits must be > 0' using errcode = 'invalid_parameter_value';
  end if;
  perform private.ledger_lock(p_user);
  e := private.ledger_find(p_key);
  if e.id is not null then return e; end if;
  return private.ledger_post(p_user, 'topup', p_key, 0, p_credits, 0, null, p_reference, false, null);
end $$;

-- A plan's credits for the period [p_period_start, p_period_end). Leftover subscription credits that
-- were still live when the period began roll over up to p_rollover_cap; the rest expire (an entry of
-- their own, key `<key>:expiry`). A grant for a period that ends before the credits already held
-- (an old invoice delivered late) changes nothing but is still recorded, so replays stay no-ops.
create or replace function private.ledger_grant_subscription(
  p_user uuid, p_credits integer, p_rollover_cap integer, p_period_start timestamptz, p_period_end timestamptz,
  p_key text, p_reference jsonb
) returns setof private.ledger_entry
language plpgsql set search_path = '' as $$
declare
  b public.credit_balances;
  e private.ledger_entry;
  leftover integer;
  keep integer;
  ref jsonb := coalesce(p_reference, '{}'::jsonb)
               || jsonb_build_object('period_start', p_period_start, 'period_end', p_period_end);
begin
  if p_credits is null or p_credits < 0 or p_period_end is null then
    raise exception 'a grant needs credits >= 0 and a period end' using errcode = 'invalid_parameter_value';
  end if;
  b := private.ledger_lock(p_user);
  e := private.ledger_find(p_key);
  if e.id is not null then
    return next e;
    return;
  end if;
  if b.subscription_expires_at is not null and p_period_end < b.subscription_expires_at then
    return next private.ledger_post(p_user, 'subscription_grant', p_key, 0, 0, 0, null,
                                    ref || jsonb_build_object('stale', true), false, null);
    return;
  end if;
  leftover := case when b.subscription_expires_at is null or b.subscription_expires_at >= p_period_start
                   then b.subscription_credits else 0 end;
  keep := least(leftover, greatest(p_rollover_cap, 0));
  if b.subscription_credits > keep then
    return next private.ledger_post(p_user, 'subscription_expiry', p_key || ':expiry', -(b.subscription_credits - keep),
                                    0, 0, null, ref || jsonb_build_object('rolled_over', keep), false, null);
  end if;
  return next private.ledger_post(p_user, 'subscription_grant', p_key, p_credits, 0, 0, null,
                                  ref || jsonb_build_object('rolled_over', keep), true, p_period_end);
end $$;

-- Refund of a top-up: claws back up to p_target credits in total for this PaymentIntent (cumulative,
-- so partial refunds delivered in any order converge), from top-up credits only; what is already
-- spent becomes a shortfall. Returns no row when nothing is left to claw back.
create or replace function private.ledger_clawback_topup(p_user uuid, p_payment_intent text, p_target integer,
                                                         p_reference jsonb) returns setof private.ledger_entry
language plpgsql set search_path = '' as $$
declare
  b public.credit_balances;
  e private.ledger_entry;
  done integer;
  due integer;
  take integer;
  k text := 'clawback:' || p_payment_intent || ':' || p_target;
begin
  b := private.ledger_lock(p_user);
  e := private.ledger_find(k);
  if e.id is not null then
    return next e;
    return;
  end if;
  select coalesce(sum(-t.topup_delta + t.shortfall), 0) into done
  from public.credit_transactions t
  where t.kind = 'refund_clawback' and t.reference ->> 'payment_intent' = p_payment_intent;
  due := p_target - done;
  if due <= 0 then return; end if;
  take := least(b.topup_credits, due);
  return next private.ledger_post(p_user, 'refund_clawback', k, 0, -take, due - take, null,
                                  coalesce(p_reference, '{}'::jsonb)
                                  || jsonb_build_object('payment_intent', p_payment_intent, 'target', p_target),
                                  false, null);
end $$;

-- Writes the expiry entry for subscription credits that expired more than p_grace ago (no renewal
-- came). Returns how many users it expired; each in its own lock, keyed by user and expiry time.
create or replace function private.ledger_expire_stale(p_grace interval, p_limit integer)
returns integer
language plpgsql set search_path = '' as $$
declare
  u uuid;
  b public.credit_balances;
  n integer := 0;
begin
  for u in
    select c.user_id from public.credit_balances c
    where c.subscription_credits > 0 and c.subscription_expires_at <= now() - p_grace
    order by c.subscription_expires_at limit p_limit
  loop
    b := private.ledger_lock(u);
    if b.subscription_credits > 0 and b.subscription_expires_at <= now() - p_grace then
      perform private.ledger_post(u, 'subscription_expiry',
                                  'expiry:' || u || ':' || floor(extract(epoch from b.subscription_expires_at))::bigint,
                                  -b.subscription_credits, 0, 0, null,
                                  jsonb_build_object('expired_at', b.subscription_expires_at), false, null);
      n := n + 1;
    end if;
  end loop;
  return n;
end $$;

revoke all on function private.ledger_lock(uuid), private.ledger_find(text),
  private.ledger_post(uuid, text, text, integer, integer, integer, uuid, jsonb, boolean, timestamptz),
  private.live_subscription(public.credit_balances),
  private.ledger_debit(uuid, integer, text, uuid, jsonb), private.ledger_topup(uuid, integer, text, jsonb),
  private.ledger_grant_subscription(uuid, integer, integer, timestamptz, timestamptz, text, jsonb),
  private.ledger_clawback_topup(uuid, text, integer, jsonb), private.ledger_expire_stale(interval, integer)
  from public, anon, authenticated;
grant execute on function private.ledger_lock(uuid), private.ledger_find(text),
  private.ledger_post(uuid, text, text, integer, integer, integer, uuid, jsonb, boolean, timestamptz),
  private.live_subscription(public.credit_balances),
  private.ledger_debit(uuid, integer, text, uuid, jsonb), private.ledger_topup(uuid, integer, text, jsonb),
  private.ledger_grant_subscription(uuid, integer, integer, timestamptz, timestamptz, text, jsonb),
  private.ledger_clawback_topup(uuid, text, integer, jsonb), private.ledger_expire_stale(interval, integer)
  to service_role;
