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

-- Everything the proxy reads before a call goes out, and the rate limit's count:
--   outcome       `rate_limited` (with `retry_after`; nothing else read) or `ok`;
--   turn_id       the turn the bridge named when it is this instance's, else the instance's turn in
--                 progress (the newest), else null;
--   free          live subscription + top-up credits less what other turns hold (null: no balance row);
--   unsettled     [{model, input_tokens, output_tokens}]: charged calls not paid yet (the turn's own
--                 so far, and those the hourly job has not settled);
--   spent         [{model, user_hour_in, …, instance_day_out}]: the spend caps' input, this UTC day/hour;
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
            from public.usage_events e
           where e.user_id = p_user and not e.byok and e.source_request_id like 'llm:%'
             and ((e.settles_with = 'hour' and e.hour_settled_at is null)
                  or (v_turn is not null and e.settles_with = 'turn' and e.turn_id = v_turn))
           group by e.model) u;
  select coalesce(jsonb_agg(to_jsonb(s)), '[]'::jsonb)
    into v_spent
    from (select e.model,
                 coalesce(sum(e.input_tokens) filter (where e.created_at >= p_hour_start), 0)::bigint as user_hour_in,
                 coalesce(sum(e.output_tokens) filter (where e.created_at >= p_hour_start), 0)::bigint as user_hour_out,
                 coalesce(sum(e.input_tokens), 0)::bigint as user_day_in,
                 coalesce(sum(e.output_tokens), 0)::bigint as user_day_out,
                 coalesce(sum(e.input_tokens) filter (where e.instance_id = p_instance
                                                        and e.created_at >= p_hour_start), 0)::bigint as instance_hour_in,
                 coalesce(sum(e.output_tokens) filter (where e.instance_id = p_instance
                                                         and e.created_at >= p_hour_start), 0)::bigint as instance_hour_out,
                 coalesce(sum(e.input_tokens) filter (where e.instance_id = p_instance), 0)::bigint as instance_day_in,
                 coalesce(sum(e.output_tokens) filter (where e.instance_id = p_instance), 0)::bigint as instance_day_out
            from public.usage_events e
           where e.user_id = p_user and e.created_at >= p_day_start and e.source_request_id like 'llm:%'
           group by e.model) s;
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
