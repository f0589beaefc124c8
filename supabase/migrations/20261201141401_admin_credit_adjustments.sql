-- Operator credit adjustments (`openagents admin credits grant|revoke`, shared/admin/credits.py): an
-- `adjustment` ledger entry, locked and keyed like every other movement. A grant adds top-up credits
-- (they never expire, so a goodwill grant is not lost at the next renewal). A revoke takes top-up
-- credits first, then live subscription credits; what the balance cannot cover is recorded as the
-- entry's shortfall, never as a negative balance. The reason and the operator go in `reference`.
create or replace function private.ledger_adjust(p_user uuid, p_delta integer, p_key text, p_reference jsonb)
returns private.ledger_entry
language plpgsql set search_path = '' as $$
declare
  b public.credit_balances;
  e private.ledger_entry;
  take_top integer;
  take_sub integer;
begin
  if p_delta is null or p_delta = 0 then
    raise exception 'an adjustment needs a non-zero delta' using errcode = 'invalid_parameter_value';
  end if;
  b := private.ledger_lock(p_user);
  e := private.ledger_find(p_key);
  if e.id is not null then return e; end if;
  if p_delta > 0 then
    return private.ledger_post(p_user, 'adjustment', p_key, 0, p_delta, 0, null,
                               coalesce(p_reference, '{}'::jsonb) || jsonb_build_object('delta', p_delta), false, null);
  end if;
  take_top := least(b.topup_credits, -p_delta);
  take_sub := least(private.live_subscription(b), -p_delta - take_top);
  return private.ledger_post(p_user, 'adjustment', p_key, -take_sub, -take_top, -p_delta - take_top - take_sub, null,
                             coalesce(p_reference, '{}'::jsonb) || jsonb_build_object('delta', p_delta), false, null);
end $$;

revoke all on function private.ledger_adjust(uuid, integer, text, jsonb) from public, anon, authenticated;
grant execute on function private.ledger_adjust(uuid, integer, text, jsonb) to service_role;
