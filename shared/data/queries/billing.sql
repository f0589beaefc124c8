-- Billing and credits. Money moves only through the `private.ledger_*` functions (migration
-- 20261124000300), which lock the balance row, check the idempotency key and append the entry.

-- name: ledger_debit
select * from private.ledger_debit(%(user_id)s::uuid, %(amount)s::integer, %(key)s::text, %(turn_id)s::uuid,
                                   %(reference)s::jsonb);

-- name: ledger_topup
select * from private.ledger_topup(%(user_id)s::uuid, %(credits)s::integer, %(key)s::text, %(reference)s::jsonb);

-- name: ledger_grant_subscription
select * from private.ledger_grant_subscription(%(user_id)s::uuid, %(credits)s::integer, %(rollover_cap)s::integer,
                                                %(period_start)s::timestamptz, %(period_end)s::timestamptz,
                                                %(key)s::text, %(reference)s::jsonb);

-- name: ledger_clawback_topup
select * from private.ledger_clawback_topup(%(user_id)s::uuid, %(payment_intent)s::text, %(target)s::integer,
                                            %(reference)s::jsonb);

-- name: ledger_expire_stale
select private.ledger_expire_stale(make_interval(secs => %(grace_s)s), %(limit)s) as expired;

-- name: ledger_lock
-- Takes the balance row lock for the rest of the transaction (settlement decides under it).
select (private.ledger_lock(%(user_id)s::uuid)).user_id as user_id;

-- name: ledger_entry_by_key
select id, kind, subscription_delta, topup_delta, shortfall, subscription_after, topup_after, reference, created_at
from public.credit_transactions where idempotency_key = %(key)s;

-- name: topup_for_payment_intent
select user_id, (reference ->> 'credits')::integer as credits, (reference ->> 'amount_total')::integer as amount_total
from public.credit_transactions
where kind = 'topup' and reference ->> 'payment_intent' = %(payment_intent)s
limit 1;

-- name: credits_available
-- The 402 rule's input: spendable now (expired subscription credits do not count) less what the
-- user's unsettled turns hold.
select greatest((case when b.subscription_expires_at is null or b.subscription_expires_at > now()
                      then b.subscription_credits else 0 end) + b.topup_credits
                - private.credits_held(b.user_id, null), 0) as available
from public.credit_balances b where b.user_id = %(user_id)s;

-- name: ledger_hold
-- A turn's hold, placed under the balance lock if the available credits cover it (migration
-- 20261125090100); `held` false means 402.
select held, available from private.ledger_hold(%(user_id)s::uuid, %(turn_id)s::uuid, %(credits)s::integer,
                                                %(agent_credits)s::integer);

-- name: ledger_charge_turn
-- A turn's debit: from its own hold and from credits no other turn holds; the rest is a shortfall.
select * from private.ledger_charge_turn(%(user_id)s::uuid, %(turn_id)s::uuid, %(amount)s::integer, %(key)s::text,
                                         %(reference)s::jsonb);

-- name: credit_balance_mine
-- `held`: credits reserved by the user's turns in progress (their own turns, readable under RLS).
select b.subscription_credits, b.subscription_expires_at, b.topup_credits,
       (b.subscription_expires_at is not null and b.subscription_expires_at <= now()) as subscription_expired,
       (select coalesce(sum(t.hold_credits), 0) from public.turns t
        where t.user_id = (select auth.uid()) and t.held_at is not null and t.settled_at is null) as held,
       p.plan::text as plan, p.plan_status::text as plan_status, p.plan_period_end, p.role::text as role
from public.profiles p
left join public.credit_balances b on b.user_id = p.id
where p.id = (select auth.uid());

-- name: credit_ledger_page
-- Keyset page, newest first (credit_transactions_user_idx covers it).
select t.id, t.kind, t.subscription_delta, t.topup_delta, t.shortfall, t.subscription_after, t.topup_after,
       t.turn_id, t.reference, t.created_at
from public.credit_transactions t
where t.user_id = (select auth.uid())
  and (%(before_id)s::bigint is null or t.id < %(before_id)s::bigint)
order by t.id desc
limit %(limit)s;

-- name: earnings_summary_mine
select coalesce(sum(e.credits) filter (where e.payout_id is null), 0)::bigint as unpaid_credits,
       coalesce(sum(e.credits) filter (where e.payout_id is not null), 0)::bigint as paid_credits,
       count(*)::bigint as turns
from public.creator_earnings e
where e.creator_id = (select auth.uid());

-- name: usage_by_agent_day
-- Usage (tokens, compute) and what was charged, per agent and UTC day, acting as the user (RLS).
with u as (
  select (e.created_at at time zone 'utc')::date as day, e.agent_id,
         sum(e.input_tokens)::bigint as input_tokens, sum(e.output_tokens)::bigint as output_tokens,
         sum(e.compute_seconds) as compute_seconds, count(*)::bigint as model_calls
  from public.usage_events e
  where e.user_id = (select auth.uid()) and e.created_at >= %(from_ts)s and e.created_at < %(to_ts)s
  group by 1, 2
), c as (
  select (t.created_at at time zone 'utc')::date as day, (t.reference ->> 'agent_id')::uuid as agent_id,
         count(*)::bigint as turns, -sum(t.subscription_delta + t.topup_delta)::bigint as credits,
         sum(t.shortfall)::bigint as shortfall
  from public.credit_transactions t
  where t.user_id = (select auth.uid()) and t.kind = 'debit'
    and t.created_at >= %(from_ts)s and t.created_at < %(to_ts)s
  group by 1, 2
)
select coalesce(u.day, c.day) as day, coalesce(u.agent_id, c.agent_id) as agent_id, a.slug as agent_slug,
       a.name as agent_name, coalesce(c.turns, 0) as turns, coalesce(u.model_calls, 0) as model_calls,
       coalesce(u.input_tokens, 0) as input_tokens, coalesce(u.output_tokens, 0) as output_tokens,
       coalesce(u.compute_seconds, 0) as compute_seconds, coalesce(c.credits, 0) as credits,
       coalesce(c.shortfall, 0) as shortfall
from u full join c on c.day = u.day and c.agent_id is not distinct from u.agent_id
left join public.agents a on a.id = coalesce(u.agent_id, c.agent_id)
order by 1 desc, 5 desc, 2;

-- name: settle_lock_turn
-- The turn row lock makes settlement of one turn serial; `first_paid` says whether another turn of
-- the session already paid a per-session price (decided under the balance lock taken next).
select t.id, t.user_id, t.session_id, t.instance_id, t.status::text as status, t.settled_at,
       t.held_at, t.hold_credits, t.hold_agent_credits,
       i.agent_id, a.creator_id, a.pricing_model::text as pricing_model, a.credits_price
from public.turns t
join public.agent_instances i on i.id = t.instance_id
join public.agents a on a.id = i.agent_id
where t.id = %(turn_id)s
for update of t;

-- name: settle_session_already_paid
select exists (
  select 1 from public.turns o join public.creator_earnings e on e.turn_id = o.id
  where o.session_id = %(session_id)s and o.id <> %(turn_id)s
) as paid;

-- name: settle_record_streamed_usage
-- A stream whose function died recorded no usage: the reaper charges what its events show — token
-- events as output tokens, the user message's UTF-8 bytes / 4 as input tokens (a lower bound), and
-- compute from the turn's start to its last event. Same source id as the API's record, so a turn's
-- usage is recorded once whoever writes it; nothing when the machine never answered.
insert into public.usage_events (user_id, instance_id, agent_id, turn_id, source_request_id, model,
                                 input_tokens, output_tokens, compute_seconds)
select t.user_id, t.instance_id, i.agent_id, t.id, 'bridge:' || t.id, '',
       coalesce((select ceil(octet_length(m.content) / 4.0)::integer from public.messages m
                 where m.id = t.user_message_id), 0),
       e.tokens,
       round(greatest(extract(epoch from e.last_at - t.created_at), 0), 3)
from public.turns t
join public.agent_instances i on i.id = t.instance_id
cross join lateral (
  select count(*) filter (where ev.event = 'token')::integer as tokens, max(ev.created_at) as last_at,
         count(*) filter (where ev.event in ('token', 'tool')) as answered
  from public.turn_events ev where ev.turn_id = t.id
) e
where t.id = %(turn_id)s and e.answered > 0
on conflict (source_request_id) do nothing;

-- name: settle_turn_usage
-- The turn's own usage: model calls through the LLM proxy made with the user's key (`byok`) pay no
-- tokens, and calls that came after the turn was settled are the hourly job's (`settles_with`).
select model, sum(case when byok then 0 else input_tokens end)::bigint as input_tokens,
       sum(case when byok then 0 else output_tokens end)::bigint as output_tokens,
       sum(compute_seconds) as compute_seconds, count(*)::int as events
from public.usage_events where turn_id = %(turn_id)s and settles_with = 'turn'
group by model;

-- name: settle_creator_earning
insert into public.creator_earnings (creator_id, agent_id, payer_id, turn_id, credits)
values (%(creator_id)s, %(agent_id)s, %(payer_id)s, %(turn_id)s, %(credits)s)
on conflict (turn_id) do nothing;

-- name: settle_touch_instance
update public.agent_instances set last_active_at = greatest(last_active_at, now()) where id = %(instance_id)s;

-- name: settle_mark_turn
update public.turns
   set settled_at = now(),
       status = case when %(interrupt)s and status = 'streaming' then 'interrupted'::public.turn_status else status end,
       finished_at = coalesce(finished_at, now())
 where id = %(turn_id)s;

-- name: reap_candidates
-- Unsettled turns: finished ones (settle), and streams silent for longer than the cutoff (their
-- function died). Silence is judged by the turn's latest event, not its age: a long turn handed to a
-- worker (`continue_turn`) keeps writing events and is never reaped mid-run.
select t.id from public.turns t
where t.settled_at is null
  and t.created_at < now() - make_interval(secs => 30)
  and (t.status <> 'streaming' or (
    t.created_at < now() - make_interval(mins => %(stale_minutes)s)
    and coalesce((select e.created_at from public.turn_events e where e.turn_id = t.id order by e.seq desc limit 1),
                 t.created_at) < now() - make_interval(mins => %(stale_minutes)s)))
order by t.created_at
limit %(limit)s;

-- name: profile_billing
select p.id, p.role::text as role, p.plan::text as plan, p.plan_status::text as plan_status,
       p.stripe_customer_id, p.stripe_subscription_id, p.connect_account_id, p.connect_payouts_enabled,
       u.email::text as email
from public.profiles p join auth.users u on u.id = p.id
where p.id = %(user_id)s;

-- name: profile_set_customer
-- First writer wins: two concurrent first checkouts keep one customer.
update public.profiles set stripe_customer_id = %(customer_id)s
where id = %(user_id)s and stripe_customer_id is null
returning stripe_customer_id;

-- name: profile_set_connect_account
update public.profiles set connect_account_id = %(account_id)s
where id = %(user_id)s and connect_account_id is null
returning connect_account_id;

-- name: profile_by_customer
select p.id, p.plan::text as plan, p.plan_status::text as plan_status, p.stripe_subscription_id, p.plan_period_end
from public.profiles p where p.stripe_customer_id = %(customer_id)s;

-- name: profile_lock
select p.id, p.plan::text as plan, p.plan_status::text as plan_status, p.stripe_subscription_id, p.plan_period_end
from public.profiles p where p.id = %(user_id)s for update;

-- name: profile_set_subscription
update public.profiles
   set stripe_subscription_id = %(subscription_id)s,
       plan = %(plan)s::public.plan_tier,
       plan_status = %(plan_status)s::public.plan_status,
       plan_period_end = %(period_end)s
 where id = %(user_id)s;

-- name: profile_set_plan_status
update public.profiles set plan_status = %(plan_status)s::public.plan_status where id = %(user_id)s;

-- name: profile_set_payouts_enabled
update public.profiles set connect_payouts_enabled = %(enabled)s
where connect_account_id = %(account_id)s and connect_payouts_enabled is distinct from %(enabled)s;

-- name: notify
insert into public.notifications (user_id, kind, title, body, data)
values (%(user_id)s, %(kind)s, %(title)s, %(body)s, %(data)s::jsonb);

-- name: stripe_event_record
-- The event id is recorded once; a redelivery finds it and changes nothing.
insert into public.stripe_events (id, type, created, payload)
values (%(id)s, %(type)s, to_timestamp(%(created)s), %(payload)s::jsonb)
on conflict (id) do nothing
returning id;

-- name: stripe_event_lock
select id, type, payload, processed_at from public.stripe_events where id = %(id)s for update;

-- name: stripe_event_done
update public.stripe_events set processed_at = now() where id = %(id)s;

-- name: meter_aggregate
-- Complete hours since the last aggregated one (at most 35 days back: Stripe's meter window), per
-- user, priced with the same table as settlement. `on conflict` makes a rerun a no-op.
with bounds as (
  select greatest(coalesce(max(m.period_start) + interval '1 hour', '-infinity'::timestamptz),
                  date_trunc('hour', now() - interval '35 days')) as since,
         date_trunc('hour', now() - make_interval(secs => %(grace_s)s)) as until
  from public.meter_reports m
), prices as (
  select key as model, (value ->> 'input')::numeric as input, (value ->> 'output')::numeric as output
  from jsonb_each(%(models)s::jsonb)
), agg as (
  select e.user_id, date_trunc('hour', e.created_at) as period_start, e.model,
         sum(e.input_tokens)::numeric as input_tokens, sum(e.output_tokens)::numeric as output_tokens,
         sum(e.compute_seconds) as compute_seconds
  from public.usage_events e, bounds b
  where e.created_at >= b.since and e.created_at < b.until and not e.byok  -- the user's own key: not ours to bill
  group by 1, 2, 3
), priced as (
  select a.user_id, a.period_start,
         sum((a.input_tokens * coalesce(p1.input, p2.input, %(default_input)s::numeric)
              + a.output_tokens * coalesce(p1.output, p2.output, %(default_output)s::numeric)) / 1000000
             + a.compute_seconds * %(machine_usd_per_second)s::numeric) as usd
  from agg a
  left join prices p1 on p1.model = a.model
  left join prices p2 on p2.model = regexp_replace(a.model, '^.*/', '')
  group by 1, 2
)
insert into public.meter_reports (user_id, period_start, value, identifier)
select user_id, period_start, ceil(usd * %(markup)s::numeric / 0.01)::integer,
       'oa-usage-' || user_id || '-' || floor(extract(epoch from period_start))::bigint
from priced where usd > 0
on conflict do nothing;

-- name: meter_unreported
select m.id, m.identifier, m.value, m.period_start, p.stripe_customer_id
from public.meter_reports m join public.profiles p on p.id = m.user_id
where m.reported_at is null and p.stripe_customer_id is not null
  and m.period_start > now() - interval '34 days'
order by m.id
limit %(limit)s;

-- name: meter_mark_reported
update public.meter_reports set reported_at = now() where id = %(id)s and reported_at is null;

-- name: payout_create
-- One payout per creator and month, claiming every unpaid earning from before the cutoff; the
-- unique (creator_id, period) makes a second run of the same month find nothing to claim.
with eligible as (
  select p.id as creator_id from public.profiles p
  where p.connect_payouts_enabled and p.connect_account_id is not null
), claim as (
  select e.creator_id, sum(e.credits)::integer as credits
  from public.creator_earnings e join eligible g on g.creator_id = e.creator_id
  where e.payout_id is null and e.created_at < %(cutoff)s
  group by e.creator_id
  having sum(e.credits) > 0
), made as (
  insert into public.payouts (creator_id, period, credits, amount_cents, idempotency_key)
  select c.creator_id, %(period)s::text, c.credits, c.credits * %(cents_per_credit)s::integer,
         'payout:' || c.creator_id || ':' || %(period)s::text
  from claim c
  on conflict (creator_id, period) do nothing
  returning id, creator_id
)
update public.creator_earnings e set payout_id = m.id
from made m
where e.creator_id = m.creator_id and e.payout_id is null and e.created_at < %(cutoff)s
returning e.id;

-- name: payouts_pending
select o.id, o.creator_id, o.period, o.credits, o.amount_cents, o.idempotency_key, p.connect_account_id
from public.payouts o join public.profiles p on p.id = o.creator_id
where o.status = 'pending' and p.connect_account_id is not null
order by o.created_at
limit %(limit)s;

-- name: payout_mark_paid
update public.payouts set status = 'paid', stripe_transfer_id = %(transfer_id)s, paid_at = now()
where id = %(id)s and status = 'pending';
