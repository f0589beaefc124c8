-- Keys and the LLM proxy (migration 20261201004001; shared/llm).

-- BYOK keys -----------------------------------------------------------------------------------------

-- name: byok_lock
-- One writer per (user, provider): two PUTs at once leave one secret and one row.
select pg_advisory_xact_lock(hashtextextended('byok:' || %(user_id)s::text || ':' || %(provider)s::text, 0));

-- name: byok_row
select id, secret_id from public.api_keys
where user_id = %(user_id)s and provider = %(provider)s::public.llm_provider;

-- name: byok_insert
insert into public.api_keys (user_id, provider, secret_id, last_four)
values (%(user_id)s, %(provider)s::public.llm_provider, %(secret_id)s, %(last_four)s)
returning provider::text as provider, last_four, created_at, updated_at, last_used_at;

-- name: byok_replace
update public.api_keys set last_four = %(last_four)s, updated_at = now(), last_used_at = null
where id = %(id)s
returning provider::text as provider, last_four, created_at, updated_at, last_used_at;

-- name: byok_list_mine
-- As the user (RLS: own rows; grants: never the secret id).
select provider::text as provider, last_four, created_at, updated_at, last_used_at
from public.api_keys where user_id = (select auth.uid())
order by provider;

-- name: byok_delete
delete from public.api_keys where user_id = %(user_id)s and provider = %(provider)s::public.llm_provider
returning secret_id;

-- name: byok_secret
select k.id, s.decrypted_secret as value
from public.api_keys k join vault.decrypted_secrets s on s.id = k.secret_id
where k.user_id = %(user_id)s and k.provider = %(provider)s::public.llm_provider;

-- name: byok_touch
-- At most one write a minute per key, however many calls use it.
update public.api_keys set last_used_at = now()
where id = %(id)s and (last_used_at is null or last_used_at < now() - interval '1 minute');

-- name: vault_update_secret
select vault.update_secret(%(id)s::uuid, %(secret)s::text);

-- Proxy tokens --------------------------------------------------------------------------------------

-- name: proxy_token_of
-- The live token of an instance or of a warm-pool unit, from Vault.
select s.decrypted_secret as value
from public.proxy_tokens t join vault.decrypted_secrets s on s.id = t.secret_id
where t.revoked_at is null
  and ((%(instance_id)s::uuid is not null and t.instance_id = %(instance_id)s::uuid)
    or (%(warm_pool_id)s::uuid is not null and t.warm_pool_id = %(warm_pool_id)s::uuid));

-- name: proxy_token_insert
-- The owner's row: an instance (with its user) or a warm-pool unit; nothing when neither exists.
insert into public.proxy_tokens (instance_id, user_id, warm_pool_id, token_hash, secret_id)
select i.id, i.user_id, null, %(token_hash)s, %(secret_id)s::uuid
from public.agent_instances i where i.id = %(instance_id)s::uuid
union all
select null, null, w.id, %(token_hash)s, %(secret_id)s::uuid
from public.warm_pool w where w.id = %(warm_pool_id)s::uuid
returning id;

-- name: proxy_token_caller
-- Who a token acts for: its instance, or the instance that claimed its warm-pool unit; live only.
select t.id as token_id, t.warm_pool_id, i.id as instance_id, i.user_id, i.agent_id, i.spend_cap_hourly,
       i.spend_cap_daily, p.plan::text as plan, p.plan_status::text as plan_status
from public.proxy_tokens t
left join public.warm_pool w on w.id = t.warm_pool_id
join public.agent_instances i on i.id = coalesce(t.instance_id, w.instance_id)
join public.profiles p on p.id = i.user_id
where t.token_hash = %(token_hash)s and t.revoked_at is null
  and i.status not in ('destroying', 'destroyed') and p.deleted_at is null;

-- name: proxy_token_unclaimed_unit
-- The warm-pool unit a token belongs to while nobody has claimed it (being built, or ready): the proxy
-- answers its warm-up calls itself. A failed, retired or claimed unit's token is not one.
select t.warm_pool_id as unit_id
from public.proxy_tokens t join public.warm_pool w on w.id = t.warm_pool_id
where t.token_hash = %(token_hash)s and t.revoked_at is null
  and w.status in ('creating', 'ready') and w.instance_id is null;

-- name: proxy_token_adopt
-- A claimed unit's token becomes its instance's own (so everything keyed by instance or user — revoking,
-- account deletion — finds it), unless the instance already has a live token of its own.
update public.proxy_tokens t set instance_id = %(instance_id)s, user_id = %(user_id)s, warm_pool_id = null
where t.id = %(id)s and t.warm_pool_id is not null and t.revoked_at is null
  and not exists (select 1 from public.proxy_tokens o
                  where o.instance_id = %(instance_id)s and o.revoked_at is null);

-- name: proxy_token_touch
update public.proxy_tokens set last_used_at = now()
where id = %(id)s and (last_used_at is null or last_used_at < now() - interval '1 minute');

-- name: proxy_tokens_revoke
-- The instance's live tokens (its own and its claimed unit's) revoked; their secrets, returned, are
-- the caller's to delete in the same transaction.
with live as (
  select t.id, t.secret_id from public.proxy_tokens t
  where t.revoked_at is null
    and (t.instance_id = %(instance_id)s
         or t.warm_pool_id in (select w.id from public.warm_pool w where w.instance_id = %(instance_id)s))
  for update
)
update public.proxy_tokens t set revoked_at = now(), secret_id = null
from live where t.id = live.id
returning live.secret_id;

-- Before a call: credits and spend ---------------------------------------------------------------

-- name: llm_free_credits
-- What the user may still spend: live subscription + top-up credits, less what other turns hold (the
-- calling turn's own hold is for this very call).
select greatest((case when b.subscription_expires_at is null or b.subscription_expires_at > now()
                      then b.subscription_credits else 0 end) + b.topup_credits
                - private.credits_held(b.user_id, %(turn_id)s::uuid), 0) as free
from public.credit_balances b where b.user_id = %(user_id)s;

-- name: llm_spend_by_model
-- Tokens of the user's model calls this UTC day, and this hour, in all and of one instance (the spend
-- caps' input; priced in Python with the settlement price table).
select e.model,
       coalesce(sum(e.input_tokens) filter (where e.created_at >= %(hour_start)s), 0)::bigint as user_hour_in,
       coalesce(sum(e.output_tokens) filter (where e.created_at >= %(hour_start)s), 0)::bigint as user_hour_out,
       coalesce(sum(e.input_tokens), 0)::bigint as user_day_in,
       coalesce(sum(e.output_tokens), 0)::bigint as user_day_out,
       coalesce(sum(e.input_tokens) filter (where e.instance_id = %(instance_id)s
                                              and e.created_at >= %(hour_start)s), 0)::bigint as instance_hour_in,
       coalesce(sum(e.output_tokens) filter (where e.instance_id = %(instance_id)s
                                               and e.created_at >= %(hour_start)s), 0)::bigint as instance_hour_out,
       coalesce(sum(e.input_tokens) filter (where e.instance_id = %(instance_id)s), 0)::bigint as instance_day_in,
       coalesce(sum(e.output_tokens) filter (where e.instance_id = %(instance_id)s), 0)::bigint as instance_day_out
from public.usage_events e
where e.user_id = %(user_id)s and e.created_at >= %(day_start)s and e.source_request_id like 'llm:%%'
group by e.model;

-- name: llm_unsettled_by_model
-- Charged model calls not paid yet: the calling turn's so far, and those the hourly job has not settled.
select e.model, sum(e.input_tokens)::bigint as input_tokens, sum(e.output_tokens)::bigint as output_tokens
from public.usage_events e
where e.user_id = %(user_id)s and not e.byok and e.source_request_id like 'llm:%%'
  and ((e.settles_with = 'hour' and e.hour_settled_at is null)
       or (%(turn_id)s::uuid is not null and e.settles_with = 'turn' and e.turn_id = %(turn_id)s::uuid))
group by e.model;

-- Recording a call ----------------------------------------------------------------------------------

-- name: llm_turn_named
-- The turn a caller named, if it is one of this instance's.
select t.id from public.turns t where t.id = %(turn_id)s::uuid and t.instance_id = %(instance_id)s;

-- name: llm_current_turn
-- The instance's turn in progress (the newest, should two sessions stream at once).
select t.id from public.turns t
where t.instance_id = %(instance_id)s and t.status = 'streaming' and t.settled_at is null
order by t.created_at desc
limit 1;

-- name: llm_turn_for_call
-- Locks the turn against its settlement while a call is recorded: settled first → the call settles
-- hourly; recorded first → the settlement sums it (its lock waits for this one).
select t.id, t.settled_at from public.turns t
where t.id = %(turn_id)s::uuid and t.instance_id = %(instance_id)s
for share of t;

-- name: llm_usage_record
-- One row per model call: a second record of the same call (same source id) is a no-op.
insert into public.usage_events (user_id, instance_id, agent_id, turn_id, source_request_id, model,
                                 input_tokens, output_tokens, settles_with, byok)
values (%(user_id)s, %(instance_id)s, %(agent_id)s::uuid, %(turn_id)s::uuid, %(source_request_id)s, %(model)s,
        %(input_tokens)s, %(output_tokens)s, %(settles_with)s, %(byok)s)
on conflict (source_request_id) do nothing
returning id;

-- The hourly settlement -----------------------------------------------------------------------------

-- name: llm_hour_due_users
select distinct e.user_id from public.usage_events e
where e.settles_with = 'hour' and e.hour_settled_at is null and e.created_at < %(cutoff)s
limit %(limit)s;

-- name: llm_hour_claim
-- Marks the user's unsettled calls before the cutoff settled and sums them per model, in the
-- transaction that debits them: a rerun finds them settled; a crash undoes both.
with claimed as (
  update public.usage_events e set hour_settled_at = now()
  where e.user_id = %(user_id)s and e.settles_with = 'hour' and e.hour_settled_at is null
    and e.created_at < %(cutoff)s
  returning e.id, e.model, e.input_tokens, e.output_tokens, e.byok
)
select model, sum(case when byok then 0 else input_tokens end)::bigint as input_tokens,
       sum(case when byok then 0 else output_tokens end)::bigint as output_tokens,
       0::numeric as compute_seconds, count(*)::int as calls, min(id) as first_id
from claimed
group by model;

-- name: settle_prefer_model_calls
-- Settling a turn whose model calls went through the proxy: those rows are its token usage, so the
-- bridge's own record keeps only its compute seconds (nothing is metered twice).
update public.usage_events b set input_tokens = 0, output_tokens = 0
where b.source_request_id = 'bridge:' || %(turn_id)s::text and b.turn_id = %(turn_id)s::uuid
  and (b.input_tokens > 0 or b.output_tokens > 0)
  and exists (select 1 from public.usage_events l
              where l.turn_id = %(turn_id)s::uuid and l.settles_with = 'turn' and l.source_request_id like 'llm:%%');

-- Spend caps ----------------------------------------------------------------------------------------

-- name: instance_set_spend_cap
update public.agent_instances set spend_cap_hourly = %(hourly)s, spend_cap_daily = %(daily)s
where id = %(id)s and user_id = %(user_id)s and status <> 'destroyed';
