-- A per-user cap on concurrent streams (issue 9): live chat turns, resumes and session follows.
--
-- Serverless instances share no memory, so the count lives here: one lease per open stream, taken
-- when the stream opens and deleted when it ends. A stream never outlives its function
-- (FUNCTION_MAX_DURATION_S: streams end, and chat turns are handed to a worker, before it), so a
-- lease expires after that long and a function that died mid-stream frees its slot by then without
-- anyone cleaning up. That makes renewal unnecessary, which is why this is a lease table and not the
-- fixed-window `rate_limits` counter: a counter cannot be given back when a stream ends.
--
-- Internal machinery, so in `private` (no client grants, no RLS matrix); only the service role
-- reaches it, through the API's own server paths.

create table private.stream_leases (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  kind text not null check (kind in ('chat', 'resume', 'follow')),
  expires_at timestamptz not null,
  created_at timestamptz not null default now()
);
create index stream_leases_user_idx on private.stream_leases (user_id, expires_at);

revoke all on private.stream_leases from public, anon, authenticated;
grant select, insert, delete on private.stream_leases to service_role;

-- Takes a lease if the user holds fewer than p_cap live ones. Returns the lease id, or null and
-- how many seconds until the user's soonest lease expires (the 429's Retry-After: an upper bound,
-- since streams usually give their lease back sooner). One decision at a time per user (an
-- advisory lock until the caller's transaction ends), so two streams opening together cannot both
-- take the last slot.
create or replace function private.stream_lease_acquire(p_user uuid, p_kind text, p_cap integer,
                                                        p_ttl_s double precision)
returns table (lease_id uuid, retry_after integer)
language plpgsql set search_path = '' as $$
declare
  active integer;
  soonest timestamptz;
begin
  if p_cap is null or p_cap < 1 or p_ttl_s is null or p_ttl_s <= 0 then
    raise exception 'a stream lease needs a cap >= 1 and a ttl > 0' using errcode = 'invalid_parameter_value';
  end if;
  perform pg_advisory_xact_lock(hashtextextended('stream-leases:' || p_user::text, 0));
  delete from private.stream_leases l where l.user_id = p_user and l.expires_at <= now();
  select count(*), min(l.expires_at) into active, soonest from private.stream_leases l where l.user_id = p_user;
  if active >= p_cap then
    return query select null::uuid, greatest(1, ceil(extract(epoch from soonest - now()))::integer);
    return;
  end if;
  return query
    insert into private.stream_leases (user_id, kind, expires_at)
    values (p_user, p_kind, now() + make_interval(secs => p_ttl_s))
    returning id, 0;
end $$;

revoke all on function private.stream_lease_acquire(uuid, text, integer, double precision)
  from public, anon, authenticated;
grant execute on function private.stream_lease_acquire(uuid, text, integer, double precision) to service_role;
