-- Keys and the LLM proxy (ARCHITECTURE §3, §5a "LLM proxy", §5b; issue 11 items 1, 2, 3, 5).
--
-- BYOK keys: the key itself lives only in Vault (`byok:<user>:<provider>`); `api_keys` keeps the
-- provider, the secret's id, the last four characters and when it was made, replaced and last used.
--
-- Proxy tokens: one per instance, kept in Vault (`instance-llm-proxy:<owner>`) so a config update can
-- give the same token again, and looked up by its SHA-256 (`token_hash`) on every call. A warm-pool
-- unit gets its own token when its machine is made (the machine's env cannot change on a claim); it
-- acts for the instance that claims the unit (`warm_pool.instance_id`), and for nobody before that.
--
-- Usage: a model call through the proxy is one `usage_events` row (`source_request_id` `llm:…`).
-- Calls inside a turn are settled with the turn (`settles_with = 'turn'`); calls outside any turn
-- (OpenClaw heartbeats, background work), or arriving after their turn was settled, are settled by
-- the hourly job (`'hour'`, `hour_settled_at` set in the debit's transaction). `byok`: the call used
-- the user's own key, so its tokens are recorded but not charged.
--
-- Spend caps: `agent_instances.spend_cap_hourly/_daily` (credits; null = the plan's default), set by
-- the owner through `PATCH /api/instances/{id}` (written by the server path, with its audit row).
--
-- Rate limits: `private.rate_limit_hit` is the one atomic fixed-window increment.

-- api_keys -------------------------------------------------------------------------------------------
alter table public.api_keys add column last_used_at timestamptz;
grant select (last_used_at) on public.api_keys to authenticated;

-- proxy_tokens ---------------------------------------------------------------------------------------
alter table public.proxy_tokens
  alter column instance_id drop not null,
  alter column user_id drop not null,
  add column warm_pool_id uuid references public.warm_pool (id) on delete cascade,
  add column secret_id uuid,
  add column last_used_at timestamptz;
alter table public.proxy_tokens add constraint proxy_tokens_owner
  check ((instance_id is not null and user_id is not null) <> (warm_pool_id is not null));
-- One live token per owner: a second `ensure` finds the first instead of making another.
create unique index proxy_tokens_live_instance_idx on public.proxy_tokens (instance_id)
  where revoked_at is null and instance_id is not null;
create unique index proxy_tokens_live_unit_idx on public.proxy_tokens (warm_pool_id)
  where revoked_at is null and warm_pool_id is not null;
create index proxy_tokens_warm_pool_idx on public.proxy_tokens (warm_pool_id);

-- A token's secret goes with its row, whatever removes the row: a retired warm-pool unit (cascade),
-- an instance row deleted, a cleanup. Revoking keeps the row and is done by the caller.
create or replace function private.proxy_token_secret_gone() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if old.secret_id is not null then
    delete from vault.secrets where id = old.secret_id;
  end if;
  return old;
end $$;
revoke all on function private.proxy_token_secret_gone() from public, anon, authenticated;
create trigger proxy_tokens_secret_gone after delete on public.proxy_tokens
  for each row execute function private.proxy_token_secret_gone();

-- spend caps -----------------------------------------------------------------------------------------
alter table public.agent_instances
  add column spend_cap_hourly integer check (spend_cap_hourly between 0 and 1000000),
  add column spend_cap_daily integer check (spend_cap_daily between 0 and 1000000);

-- usage_events ---------------------------------------------------------------------------------------
alter table public.usage_events
  add column settles_with text not null default 'turn' check (settles_with in ('turn', 'hour')),
  add column hour_settled_at timestamptz,
  add column byok boolean not null default false;
alter table public.usage_events add constraint usage_events_hour_settled_only_hourly
  check (hour_settled_at is null or settles_with = 'hour');
-- What the hourly job has left to settle, per user.
create index usage_events_hour_due_idx on public.usage_events (user_id, created_at)
  where settles_with = 'hour' and hour_settled_at is null;

-- rate limits ----------------------------------------------------------------------------------------
-- Fixed windows aligned to the epoch: one upsert counts the hit and answers the window's count and
-- the seconds until it ends. Older windows of the same key are dropped on the way (the hourly job
-- drops those of keys nobody hits any more).
create index rate_limits_window_idx on public.rate_limits (window_start);

create or replace function private.rate_limit_hit(p_key text, p_window_s integer)
returns table (hits integer, reset_in integer)
language plpgsql set search_path = '' as $$
declare
  start_at timestamptz;
begin
  if p_window_s is null or p_window_s < 1 then
    raise exception 'a rate-limit window is at least 1 s, got %', p_window_s using errcode = 'invalid_parameter_value';
  end if;
  start_at := to_timestamp(floor(extract(epoch from now()) / p_window_s) * p_window_s);
  delete from public.rate_limits r where r.key = p_key and r.window_start < start_at;
  return query
    insert into public.rate_limits as r (key, window_start, count)
    values (p_key, start_at, 1)
    on conflict (key, window_start) do update set count = r.count + 1
    returning r.count, greatest(ceil(extract(epoch from (start_at + make_interval(secs => p_window_s) - now())))::integer, 1);
end $$;

revoke all on function private.rate_limit_hit(text, integer) from public, anon, authenticated;
grant execute on function private.rate_limit_hit(text, integer) to service_role;
