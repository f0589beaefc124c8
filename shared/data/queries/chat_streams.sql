-- Chat streams beyond one function (issue 9): the per-user stream cap (migration 20261201006001) and
-- the handoff of a long turn to a worker (shared/chat/handoff.py).

-- name: stream_lease_acquire
-- `lease_id` null: the user is at the cap; `retry_after` is the 429's Retry-After.
select lease_id, retry_after
from private.stream_lease_acquire(%(user_id)s::uuid, %(kind)s::text, %(cap)s::integer, %(ttl_s)s::double precision);

-- name: stream_lease_release
delete from private.stream_leases where id = %(lease_id)s::uuid;

-- name: turn_handoff_context
-- What the worker continuing a turn needs: the turn, how far its events got, and its user message
-- (the bridge checks a re-opened turn carries the same one).
select t.id, t.session_id, t.user_id, t.instance_id, i.agent_id, t.assistant_message_id,
       t.status::text as status, t.last_seq, coalesce(m.content, '') as message
from public.turns t
join public.agent_instances i on i.id = t.instance_id
left join public.messages m on m.id = t.user_message_id
where t.id = %(turn_id)s;
