-- Credit holds (ARCHITECTURE §5b; issue 9): a turn reserves credits when it opens, so concurrent
-- turns cannot spend the same balance twice.
--
-- A hold is part of its turn: `turns.held_at` / `hold_credits` / `hold_agent_credits`, written under
-- the user's balance lock in the transaction that creates the turn. It is active while the turn is
-- unsettled; settlement (under the same lock) converts it into the debit and ends it by setting
-- `settled_at`, and the reaper does the same for turns whose function died. Holds move no money, so
-- they are not ledger entries: the ledger still sums to the balance row. What a user may spend is
--
--     available = live subscription credits + top-up credits − active holds
--
-- A hold's size is chosen by the caller (shared/billing/ledger.py): the agent's price part of the
-- turn plus a metered-usage allowance. Settlement takes the turn's cost from its own hold and from
-- credits nobody else holds, never from another turn's hold; so a shortfall can only be metered cost
-- beyond the hold and what was free, and the agent's price (held in full) is always paid. Holds do
-- not stop Stripe-driven movements (a refund's clawback, a plan grant expiring leftovers): money owed
-- outside the platform wins, and a turn settled after one of those may record a shortfall.

alter table public.turns
  add column held_at timestamptz,
  add column hold_credits integer not null default 0 check (hold_credits >= 0),
  add column hold_agent_credits integer not null default 0 check (hold_agent_credits >= 0);
alter table public.turns add constraint turns_hold_agent_within_hold check (hold_agent_credits <= hold_credits);

-- Summing a user's active holds under the balance lock.
create index turns_active_holds_idx on public.turns (user_id) include (hold_credits)
  where held_at is not null and settled_at is null;

-- Credits held by a user's unsettled turns, except one (the turn being decided).
create or replace function private.credits_held(p_user uuid, p_except uuid) returns integer
language sql stable set search_path = '' as $$
  select coalesce(sum(t.hold_credits), 0)::integer from public.turns t
  where t.user_id = p_user and t.held_at is not null and t.settled_at is null
    and (p_except is null or t.id <> p_except)
$$;

-- Places the hold of an open turn if the available credits cover it. Returns whether it did and what
-- was available before it (the 402 answer's figure). Under the balance lock, so two turns opening at
-- once are decided one after the other.
create or replace function private.ledger_hold(p_user uuid, p_turn uuid, p_credits integer, p_agent_credits integer)
returns table (held boolean, available integer)
language plpgsql set search_path = '' as $$
declare
  b public.credit_balances;
  free integer;
begin
  if p_credits is null or p_agent_credits is null or p_agent_credits < 0 or p_credits < p_agent_credits then
    raise exception 'a hold needs 0 <= agent credits <= credits, got % of %', p_agent_credits, p_credits
      using errcode = 'invalid_parameter_value';
  end if;
  b := private.ledger_lock(p_user);
  free := greatest(private.live_subscription(b) + b.topup_credits - private.credits_held(p_user, p_turn), 0);
  if free < p_credits then
    return query select false, free;
    return;
  end if;
  update public.turns t
     set held_at = now(), hold_credits = p_credits, hold_agent_credits = p_agent_credits
   where t.id = p_turn and t.user_id = p_user and t.settled_at is null;
  if not found then
    raise exception 'no unsettled turn % of this user', p_turn using errcode = 'no_data_found';
  end if;
  return query select true, free;
end $$;

-- A turn's settlement debit: like ledger_debit, but it may take only the turn's own hold plus credits
-- no other unsettled turn holds; the rest of p_amount is the recorded shortfall. Subscription credits
-- that expired after the hold was taken still pay for it (up to the hold): the turn began while they
-- were live. Callers hold the turn's row lock; this takes the balance lock (order: turn → balance).
create or replace function private.ledger_charge_turn(p_user uuid, p_turn uuid, p_amount integer, p_key text,
                                                      p_reference jsonb) returns private.ledger_entry
language plpgsql set search_path = '' as $$
declare
  b public.credit_balances;
  e private.ledger_entry;
  own_held_at timestamptz;
  own_hold integer := 0;
  sub integer;
  room integer;
  take integer;
  take_sub integer;
begin
  if p_amount is null or p_amount < 0 then
    raise exception 'debit amount must be >= 0, got %', p_amount using errcode = 'invalid_parameter_value';
  end if;
  b := private.ledger_lock(p_user);
  e := private.ledger_find(p_key);
  if e.id is not null then return e; end if;
  select t.held_at, t.hold_credits into own_held_at, own_hold
  from public.turns t where t.id = p_turn and t.user_id = p_user and t.settled_at is null;
  own_hold := coalesce(own_hold, 0);
  sub := private.live_subscription(b);
  if sub = 0 and own_held_at is not null and b.subscription_expires_at > own_held_at then
    sub := least(b.subscription_credits, own_hold);
  end if;
  room := greatest(sub + b.topup_credits - private.credits_held(p_user, p_turn), 0);
  take := least(p_amount, room);
  take_sub := least(sub, take);
  return private.ledger_post(p_user, 'debit', p_key, -take_sub, -(take - take_sub), p_amount - take, p_turn,
                             coalesce(p_reference, '{}'::jsonb)
                             || jsonb_build_object('amount', p_amount, 'hold', own_hold), false, null);
end $$;

revoke all on function private.credits_held(uuid, uuid), private.ledger_hold(uuid, uuid, integer, integer),
  private.ledger_charge_turn(uuid, uuid, integer, text, jsonb) from public, anon, authenticated;
grant execute on function private.credits_held(uuid, uuid), private.ledger_hold(uuid, uuid, integer, integer),
  private.ledger_charge_turn(uuid, uuid, integer, text, jsonb) to service_role;
