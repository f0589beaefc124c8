-- The chat route's rate limit counted inside the turn's opening (issue 14): the route counted it in a
-- round trip of its own before the opening, in front of the first token. `private.chat_open_turn`
-- takes the limit's key, limit and window (a null key: not limited, as relay turns and a limit of 0)
-- and counts first; over the limit it answers `rate_limited` with `retry_after`, and the count stays
-- (every outcome commits it, as before). Otherwise as migration 20261201170001.
drop function private.chat_open_turn(uuid, uuid, uuid, uuid[], text, text, integer, text, integer, double precision);

create or replace function private.chat_open_turn(
  p_user uuid, p_instance uuid, p_session uuid, p_ids uuid[], p_client_message_id text, p_message text,
  p_metered integer, p_lease_kind text, p_lease_cap integer, p_lease_ttl_s double precision,
  p_rate_key text, p_rate_limit integer, p_rate_window_s integer)
returns table (outcome text, agent_id uuid, instance_status text, session_id uuid, price integer,
               available integer, lease_id uuid, retry_after integer)
language plpgsql set search_path = '' as $$
#variable_conflict use_column
declare
  inst record;
  v_session uuid := coalesce(p_session, p_ids[1]);
  v_turn uuid := p_ids[2];
  v_price integer := 0;
  v_held boolean;
  v_free integer;
  v_lease uuid;
  v_wait integer;
  v_hits integer;
begin
  -- The route's rate limit, counted first and kept whatever the outcome (the abuse guard counts
  -- every request it lets through to here, as the separate count did).
  if p_rate_key is not null then
    select h.hits, h.reset_in into v_hits, v_wait from private.rate_limit_hit(p_rate_key, p_rate_window_s) h;
    if v_hits > p_rate_limit then
      return query select 'rate_limited'::text, null::uuid, null::text, null::uuid, null::integer, null::integer,
                          null::uuid, v_wait;
      return;
    end if;
  end if;
  perform 1 from public.profiles p where p.id = p_user and p.deleted_at is not null;
  if found then
    return query select 'deleted'::text, null::uuid, null::text, null::uuid, null::integer, null::integer,
                        null::uuid, null::integer;
    return;
  end if;
  if p_metered is null or p_metered < 0 or array_length(p_ids, 1) is distinct from 4 then
    raise exception 'chat_open_turn needs 4 ids and a metered allowance >= 0' using errcode = 'invalid_parameter_value';
  end if;
  select i.agent_id, i.status::text as status, a.pricing_model::text as pricing_model, a.credits_price
    into inst
    from public.agent_instances i join public.agents a on a.id = i.agent_id
   where i.id = p_instance and i.user_id = p_user and i.status <> 'destroyed';
  if not found then
    return query select 'not_found'::text, null::uuid, null::text, null::uuid, null::integer, null::integer,
                        null::uuid, null::integer;
    return;
  end if;
  if p_session is not null then
    perform 1 from public.sessions s where s.id = p_session and s.user_id = p_user and s.instance_id = p_instance;
    if not found then
      return query select 'unusual'::text, inst.agent_id, inst.status, null::uuid, null::integer, null::integer,
                          null::uuid, null::integer;
      return;
    end if;
  end if;
  -- The agent's part (ARCHITECTURE §5b): per_task every turn, per_session until a turn of the
  -- session has paid it, free none.
  if inst.pricing_model <> 'free' and not (inst.pricing_model = 'per_session' and p_session is not null and exists (
       select 1 from public.turns o join public.creator_earnings e on e.turn_id = o.id where o.session_id = p_session)) then
    v_price := greatest(coalesce(inst.credits_price, 0), 0);
  end if;
  begin
    if p_session is null then
      insert into public.sessions (id, user_id, instance_id, title, channel)
      values (v_session, p_user, p_instance, left(p_message, 80), 'web');
    end if;
    insert into public.turns (id, session_id, user_id, instance_id, client_message_id)
    values (v_turn, v_session, p_user, p_instance, p_client_message_id)
    on conflict (user_id, client_message_id) do nothing;
    if not found then
      raise exception 'client_message_id used already' using errcode = 'OA409';
    end if;
    insert into public.messages (id, session_id, user_id, turn_id, role, content)
    values (p_ids[3], v_session, p_user, v_turn, 'user', p_message),
           (p_ids[4], v_session, p_user, v_turn, 'assistant', '');
    update public.turns t set user_message_id = p_ids[3], assistant_message_id = p_ids[4] where t.id = v_turn;
    if p_session is not null then  -- a session made above has last_message_at = now() already
      update public.sessions s set last_message_at = now() where s.id = v_session;
    end if;
    select h.held, h.available into v_held, v_free
      from private.ledger_hold(p_user, v_turn, v_price + p_metered, v_price) h;
    if not v_held then
      raise exception 'insufficient credits' using errcode = 'OA402';
    end if;
    if p_lease_kind is not null then
      select l.lease_id, l.retry_after into v_lease, v_wait
        from private.stream_lease_acquire(p_user, p_lease_kind, p_lease_cap, p_lease_ttl_s) l;
      if v_lease is null then
        raise exception 'too many streams' using errcode = 'OA429';
      end if;
    end if;
  exception
    when sqlstate 'OA409' then
      return query select 'unusual'::text, inst.agent_id, inst.status, null::uuid, v_price, null::integer,
                          null::uuid, null::integer;
      return;
    when sqlstate 'OA402' then
      return query select 'insufficient'::text, inst.agent_id, inst.status, null::uuid, v_price, v_free,
                          null::uuid, null::integer;
      return;
    when sqlstate 'OA429' then
      return query select 'too_many'::text, inst.agent_id, inst.status, null::uuid, v_price, v_free,
                          null::uuid, v_wait;
      return;
  end;
  return query select 'opened'::text, inst.agent_id, inst.status, v_session, v_price, v_free, v_lease, 0;
end $$;

revoke all on function private.chat_open_turn(uuid, uuid, uuid, uuid[], text, text, integer, text, integer,
                                              double precision, text, integer, integer) from public, anon, authenticated;
grant execute on function private.chat_open_turn(uuid, uuid, uuid, uuid[], text, text, integer, text, integer,
                                                 double precision, text, integer, integer) to service_role;
