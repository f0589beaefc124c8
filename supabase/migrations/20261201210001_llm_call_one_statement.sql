-- The LLM proxy's reads and writes around a model call, one statement each (issue 14: the proxy's
-- five transactions in front of every call). A call made:
--   1. the token's lookup, then its adoption and touch (one transaction, three statements);
--   2. the rate limit's count (one);
--   3. the call's turn (one, up to two statements);
--   4. credits and spend (one, three statements);
--   5. the user's own key and its touch (one, two statements);
-- and after the answer the turn's lock and the usage row (one, two statements). Each transaction also
-- paid BEGIN, the role switch and COMMIT. Now: `private.llm_proxy_caller` (1), `private.llm_call_open`
-- (2–5) and the usage row with its turn lock in one INSERT (named query `llm_usage_record`), each
-- going out with its transaction's setup and COMMIT in one round trip (`Database.service_once`).
-- The spend caps read an hourly rollup (`private.llm_spend`) instead of summing the day's usage rows.

-- Who a token acts for (its instance, or the instance that claimed its warm-pool unit; live only), as
-- named query `proxy_token_caller` read it. A claimed unit's token is adopted by the instance unless
-- the instance has a live token of its own; the token's last use is written at most once a minute.
create or replace function private.llm_proxy_caller(p_token_hash text)
returns table (token_id uuid, warm_pool_id uuid, instance_id uuid, user_id uuid, agent_id uuid,
               spend_cap_hourly integer, spend_cap_daily integer, plan text, plan_status text)
language plpgsql set search_path = '' as $$
#variable_conflict use_column
declare
  found_row record;
begin
  select t.id as token_id, t.warm_pool_id, i.id as instance_id, i.user_id, i.agent_id, i.spend_cap_hourly,
         i.spend_cap_daily, p.plan::text as plan, p.plan_status::text as plan_status
    into found_row
    from public.proxy_tokens t
    left join public.warm_pool w on w.id = t.warm_pool_id
    join public.agent_instances i on i.id = coalesce(t.instance_id, w.instance_id)
    join public.profiles p on p.id = i.user_id
   where t.token_hash = p_token_hash and t.revoked_at is null
     and i.status not in ('destroying', 'destroyed') and p.deleted_at is null;
  if not found then
    return;
  end if;
  if found_row.warm_pool_id is not null then
    update public.proxy_tokens t set instance_id = found_row.instance_id, user_id = found_row.user_id,
                                     warm_pool_id = null
     where t.id = found_row.token_id and t.warm_pool_id is not null and t.revoked_at is null
       and not exists (select 1 from public.proxy_tokens o
                        where o.instance_id = found_row.instance_id and o.revoked_at is null);
  end if;
  update public.proxy_tokens t set last_used_at = now()
   where t.id = found_row.token_id and (t.last_used_at is null or t.last_used_at < now() - interval '1 minute');
  return query select found_row.token_id, found_row.warm_pool_id, found_row.instance_id, found_row.user_id,
                      found_row.agent_id, found_row.spend_cap_hourly, found_row.spend_cap_daily, found_row.plan,
                      found_row.plan_status;
end $$;

-- The spend caps' input, kept per UTC hour: tokens of model calls (usage rows `llm:…`) by user,
-- instance (null once the instance row is gone) and model. A trigger keeps it in step with
-- `usage_events` however a row is written, changed or removed; rows older than two days are pruned
-- by the hourly job (caps look back one UTC day at most).
create table private.llm_spend (
  user_id uuid not null references public.profiles (id) on delete cascade,
  hour timestamptz not null,
  instance_id uuid,
  model text not null,
  input_tokens bigint not null default 0,
  output_tokens bigint not null default 0,
  constraint llm_spend_key unique nulls not distinct (user_id, hour, instance_id, model)
);
revoke all on private.llm_spend from public, anon, authenticated;
grant select, insert, update, delete on private.llm_spend to service_role;

-- Security definer: whoever writes a usage row (the service role, a migration), the rollup follows.
create or replace function private.llm_spend_track()
returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if tg_op in ('UPDATE', 'DELETE') and old.source_request_id like 'llm:%' then
    update private.llm_spend r
       set input_tokens = r.input_tokens - old.input_tokens, output_tokens = r.output_tokens - old.output_tokens
     where r.user_id = old.user_id and r.hour = date_trunc('hour', old.created_at, 'UTC')
       and r.instance_id is not distinct from old.instance_id and r.model = old.model;
  end if;
  if tg_op in ('INSERT', 'UPDATE') and new.source_request_id like 'llm:%' then
    insert into private.llm_spend as r (user_id, hour, instance_id, model, input_tokens, output_tokens)
    values (new.user_id, date_trunc('hour', new.created_at, 'UTC'), new.instance_id, new.model, new.input_tokens,
            new.output_tokens)
    on conflict on constraint llm_spend_key do update
      set input_tokens = r.input_tokens + excluded.input_tokens, output_tokens = r.output_tokens + excluded.output_tokens;
  end if;
  return null;
end $$;
revoke all on function private.llm_spend_track() from public, anon, authenticated;

-- The trigger first, then the backfill, in this migration's transaction: no row written meanwhile
-- is missed or counted twice.
create trigger usage_events_llm_spend
  after insert or delete or update of user_id, instance_id, model, input_tokens, output_tokens, created_at,
                                      source_request_id
  on public.usage_events for each row execute function private.llm_spend_track();

insert into private.llm_spend (user_id, hour, instance_id, model, input_tokens, output_tokens)
select e.user_id, date_trunc('hour', e.created_at, 'UTC'), e.instance_id, e.model, sum(e.input_tokens),
       sum(e.output_tokens)
from public.usage_events e
where e.source_request_id like 'llm:%' and e.created_at >= now() - interval '2 days'
group by 1, 2, 3, 4;

-- Everything the proxy reads before a call goes out, and the rate limit's count:
--   outcome       `rate_limited` (with `retry_after`; nothing else read) or `ok`;
--   turn_id       the turn the bridge named when it is this instance's, else the instance's turn in
--                 progress (the newest), else null;
--   free          live subscription + top-up credits less what other turns hold (null: no balance row);
--   unsettled     [{model, input_tokens, output_tokens}]: charged calls not paid yet (the turn's own
--                 so far, and those the hourly job has not settled);
--   spent         [{model, user_hour_in, …, instance_day_out}]: the spend caps' input, this UTC day/hour
--                 (`p_hour_start`, `p_day_start`: whole UTC hours), from `private.llm_spend`;
--   key_id/value  the user's own key for the provider (BYOK, from Vault), marked used at most once a minute.
-- The count commits whatever the outcome, as the separate count did.
create or replace function private.llm_call_open(
  p_user uuid, p_instance uuid, p_named_turn uuid, p_provider text, p_hour_start timestamptz,
  p_day_start timestamptz, p_rate_key text, p_rate_limit integer, p_rate_window_s integer)
returns table (outcome text, retry_after integer, turn_id uuid, free integer, unsettled jsonb, spent jsonb,
               key_id uuid, key_value text)
language plpgsql set search_path = '' as $$
#variable_conflict use_column
declare
  v_hits integer;
  v_wait integer;
  v_turn uuid;
  v_free integer;
  v_unsettled jsonb;
  v_spent jsonb;
  v_key_id uuid;
  v_key text;
begin
  if p_rate_key is not null then
    select h.hits, h.reset_in into v_hits, v_wait from private.rate_limit_hit(p_rate_key, p_rate_window_s) h;
    if v_hits > p_rate_limit then
      return query select 'rate_limited'::text, v_wait, null::uuid, null::integer, null::jsonb, null::jsonb,
                          null::uuid, null::text;
      return;
    end if;
  end if;
  if p_named_turn is not null then
    select t.id into v_turn from public.turns t where t.id = p_named_turn and t.instance_id = p_instance;
  end if;
  if v_turn is null then
    select t.id into v_turn from public.turns t
     where t.instance_id = p_instance and t.status = 'streaming' and t.settled_at is null
     order by t.created_at desc
     limit 1;
  end if;
  select greatest((case when b.subscription_expires_at is null or b.subscription_expires_at > now()
                        then b.subscription_credits else 0 end) + b.topup_credits
                  - private.credits_held(b.user_id, v_turn), 0)
    into v_free
    from public.credit_balances b where b.user_id = p_user;
  select coalesce(jsonb_agg(jsonb_build_object('model', u.model, 'input_tokens', u.input_tokens,
                                               'output_tokens', u.output_tokens)), '[]'::jsonb)
    into v_unsettled
    from (select e.model, sum(e.input_tokens)::bigint as input_tokens, sum(e.output_tokens)::bigint as output_tokens
            -- Two disjoint parts, each on its index (the hourly job's due rows; the turn's rows): as
            -- one OR the planner read all of the user's usage rows.
            from (select h.model, h.input_tokens, h.output_tokens from public.usage_events h
                   where h.user_id = p_user and h.settles_with = 'hour' and h.hour_settled_at is null
                     and not h.byok and h.source_request_id like 'llm:%'
                  union all
                  select t.model, t.input_tokens, t.output_tokens from public.usage_events t
                   where v_turn is not null and t.turn_id = v_turn and t.user_id = p_user
                     and t.settles_with = 'turn' and not t.byok and t.source_request_id like 'llm:%') e
           group by e.model) u;
  -- From the hourly rollup (below): a user's day is at most 24 rows per instance and model, however
  -- many calls it made (summing the day's usage rows cost ~20 ms a call at 10,000 calls a day).
  select coalesce(jsonb_agg(to_jsonb(s)), '[]'::jsonb)
    into v_spent
    from (select r.model,
                 coalesce(sum(r.input_tokens) filter (where r.hour >= p_hour_start), 0)::bigint as user_hour_in,
                 coalesce(sum(r.output_tokens) filter (where r.hour >= p_hour_start), 0)::bigint as user_hour_out,
                 coalesce(sum(r.input_tokens), 0)::bigint as user_day_in,
                 coalesce(sum(r.output_tokens), 0)::bigint as user_day_out,
                 coalesce(sum(r.input_tokens) filter (where r.instance_id = p_instance
                                                        and r.hour >= p_hour_start), 0)::bigint as instance_hour_in,
                 coalesce(sum(r.output_tokens) filter (where r.instance_id = p_instance
                                                         and r.hour >= p_hour_start), 0)::bigint as instance_hour_out,
                 coalesce(sum(r.input_tokens) filter (where r.instance_id = p_instance), 0)::bigint as instance_day_in,
                 coalesce(sum(r.output_tokens) filter (where r.instance_id = p_instance), 0)::bigint as instance_day_out
            from private.llm_spend r
           where r.user_id = p_user and r.hour >= p_day_start
           group by r.model) s;
  select k.id, s.decrypted_secret into v_key_id, v_key
    from public.api_keys k join vault.decrypted_secrets s on s.id = k.secret_id
   where k.user_id = p_user and k.provider = p_provider::public.llm_provider;
  if v_key_id is not null and v_key is not null and v_key <> '' then
    update public.api_keys k set last_used_at = now()
     where k.id = v_key_id and (k.last_used_at is null or k.last_used_at < now() - interval '1 minute');
  else
    v_key_id := null;
    v_key := null;
  end if;
  return query select 'ok'::text, 0, v_turn, v_free, v_unsettled, v_spent, v_key_id, v_key;
end $$;

revoke all on function private.llm_proxy_caller(text) from public, anon, authenticated;
grant execute on function private.llm_proxy_caller(text) to service_role;
revoke all on function private.llm_call_open(uuid, uuid, uuid, text, timestamptz, timestamptz, text, integer, integer)
  from public, anon, authenticated;
grant execute on function private.llm_call_open(uuid, uuid, uuid, text, timestamptz, timestamptz, text, integer, integer)
  to service_role;
