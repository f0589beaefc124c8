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
-- Who a token acts for: its instance, or the instance that claimed its warm-pool unit; live only. A
-- claimed unit's token is adopted by its instance on first use, and the token's use is marked
-- (migration 20261201210001: one statement, in front of every model call).
select token_id, warm_pool_id, instance_id, user_id, agent_id, spend_cap_hourly, spend_cap_daily, plan, plan_status
from private.llm_proxy_caller(%(token_hash)s::text);

-- name: proxy_token_unclaimed_unit
-- The warm-pool unit a token belongs to while nobody has claimed it (being built, or ready): the proxy
-- answers its warm-up calls itself. A failed, retired or claimed unit's token is not one.
select t.warm_pool_id as unit_id
from public.proxy_tokens t join public.warm_pool w on w.id = t.warm_pool_id
where t.token_hash = %(token_hash)s and t.revoked_at is null
  and w.status in ('creating', 'ready') and w.instance_id is null;

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

-- Before a call, and after it ---------------------------------------------------------------------

-- name: llm_call_open
-- In front of a model call, one statement (migration 20261201210001): the rate limit's count, the
-- call's turn, the user's free credits, unsettled calls and spend this hour and day, and the user's
-- own key for the provider (`outcome`: ok | rate_limited).
select outcome, retry_after, turn_id, free, unsettled, spent, key_id, key_value
from private.llm_call_open(%(user_id)s::uuid, %(instance_id)s::uuid, %(named_turn)s::uuid, %(provider)s::text,
                           %(hour_start)s::timestamptz, %(day_start)s::timestamptz, %(rate_key)s::text,
                           %(rate_limit)s::integer, %(rate_window_s)s::integer);

-- name: llm_usage_record
-- One row per model call: a second record of the same call (same source id) is a no-op. The call's
-- turn is locked against its settlement while the row is written: settled first → the call settles
-- with the hourly job; recorded first → the settlement sums it (its lock waits for this one).
with turn as (
  select t.settled_at from public.turns t
  where t.id = %(turn_id)s::uuid and t.instance_id = %(instance_id)s
  for share of t
)
insert into public.usage_events (user_id, instance_id, agent_id, turn_id, source_request_id, model,
                                 input_tokens, output_tokens, settles_with, byok)
values (%(user_id)s, %(instance_id)s, %(agent_id)s::uuid, %(turn_id)s::uuid, %(source_request_id)s, %(model)s,
        %(input_tokens)s, %(output_tokens)s,
        case when exists (select 1 from turn where turn.settled_at is null) then 'turn' else 'hour' end,
        %(byok)s)
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

-- name: llm_spend_prune
-- The spend rollup's hours the caps no longer look at (they look back one UTC day).
delete from private.llm_spend where hour < now() - interval '2 days';

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
