-- name: relay_inbox_record
-- Intake in one statement: the update is recorded once per platform id, and only a new row defers its
-- processing job (same transaction), so a redelivery neither stores nor enqueues anything. The job's
-- lock is the external chat: one chat's messages are processed one at a time, in arrival order.
with ins as (
  insert into public.relay_inbox (relay, platform_id, chat_id, payload)
  values (%(relay)s::public.relay_kind, %(platform_id)s, %(chat_id)s, %(payload)s::jsonb)
  on conflict (relay, platform_id) do nothing
  returning id
)
select ins.id, (procrastinate.procrastinate_defer_jobs_v1(array[row(
  %(queue)s, %(task)s, %(priority)s, %(lock)s, null::text, jsonb_build_object('inbox_id', ins.id),
  null::timestamptz
)::procrastinate.procrastinate_job_to_defer_v1]))[1] as job_id
from ins;

-- name: relay_inbox_start
-- The job takes its row: one more attempt. Rows already finished are left alone (a duplicate job).
update public.relay_inbox
set status = 'processing', attempts = attempts + 1, updated_at = now()
where id = %(inbox_id)s and status in ('queued', 'processing')
returning id, relay::text as relay, platform_id, chat_id, payload, turn_id, attempts, received_at;

-- name: relay_inbox_finish
update public.relay_inbox
set status = %(status)s, error = %(error)s, processed_at = now(), updated_at = now()
where id = %(inbox_id)s;

-- name: relay_inbox_set_turn
update public.relay_inbox set turn_id = %(turn_id)s, updated_at = now() where id = %(inbox_id)s;

-- name: relay_link_instance
-- The instance a link token may be made for: the caller's own, not destroyed.
select i.id, i.status::text as status from public.agent_instances i
where i.id = %(instance_id)s and i.user_id = %(user_id)s and i.status not in ('destroying', 'destroyed');

-- name: relay_link_create
insert into public.relay_link_tokens (user_id, instance_id, relay, token_hash, expires_at)
values (%(user_id)s, %(instance_id)s, %(relay)s::public.relay_kind, %(token_hash)s, %(expires_at)s)
returning id, expires_at;

-- name: relay_link_consume
-- Single use: the first caller with an unexpired, unused token of this relay gets its instance.
update public.relay_link_tokens t
set used_at = now()
from public.agent_instances i
where t.token_hash = %(token_hash)s and t.relay = %(relay)s::public.relay_kind and t.used_at is null
  and t.expires_at > now() and i.id = t.instance_id and i.status not in ('destroying', 'destroyed')
returning t.user_id, t.instance_id;

-- name: relay_link_sweep
delete from public.relay_link_tokens where expires_at < now() - interval '1 day';

-- name: relay_connection_upsert
-- One connection per external user of a relay: linking again moves it to the new instance.
insert into public.relay_connections (user_id, instance_id, relay, external_user_id, external_chat_id)
values (%(user_id)s, %(instance_id)s, %(relay)s::public.relay_kind, %(external_user_id)s, %(external_chat_id)s)
on conflict (relay, external_user_id) do update
set user_id = excluded.user_id, instance_id = excluded.instance_id, external_chat_id = excluded.external_chat_id,
    updated_at = now()
returning id;

-- name: relay_connection_route
-- External user → the instance they linked, with what the turn needs.
select c.id, c.user_id, c.instance_id, i.status::text as status
from public.relay_connections c
join public.agent_instances i on i.id = c.instance_id
where c.relay = %(relay)s::public.relay_kind and c.external_user_id = %(external_user_id)s;

-- name: relay_connections_of_instance
-- Read as the signed-in user: RLS shows only their own.
select c.id, c.instance_id, c.relay::text as relay, c.external_user_id, c.external_chat_id, c.created_at, c.updated_at
from public.relay_connections c
where c.instance_id = %(instance_id)s
order by c.created_at, c.id;

-- name: relay_connection_delete
-- As the signed-in user: RLS lets them delete only their own.
delete from public.relay_connections where id = %(connection_id)s returning id;

-- name: relay_session_for_chat
-- One session per external chat and instance, made on its first message.
with found as (
  select s.id from public.sessions s
  where s.instance_id = %(instance_id)s and s.channel = %(channel)s and s.external_chat_id = %(chat_id)s
), made as (
  insert into public.sessions (user_id, instance_id, title, channel, external_chat_id)
  select %(user_id)s, %(instance_id)s, left(%(title)s, 80), %(channel)s, %(chat_id)s
  where not exists (select 1 from found)
  on conflict do nothing
  returning id
)
select id from found union all select id from made;

-- name: relay_turn_state
-- A turn the job opened earlier: how it ended and what the agent answered.
select t.id, t.status::text as status, t.settled_at, m.content as reply
from public.turns t
left join public.messages m on m.id = t.assistant_message_id
where t.id = %(turn_id)s;

-- name: relay_turn_reply
-- The agent's whole answer on the assistant message (web chat grows it frame by frame; a relay
-- collects it and writes it once, with the turn's close).
update public.messages set content = %(content)s where id = %(message_id)s;

-- name: relay_outbox_claim
-- The part's row, made on first sight; its status says whether it was sent already.
with made as (
  insert into public.relay_outbox (relay, idempotency_key, chat_id, payload, inbox_id, part)
  values (%(relay)s::public.relay_kind, %(key)s, %(chat_id)s, %(payload)s::jsonb, %(inbox_id)s, %(part)s)
  on conflict (idempotency_key) do nothing
  returning id, status, attempts, payload
)
select id, status, attempts, payload from made
union all
select id, status, attempts, payload from public.relay_outbox where idempotency_key = %(key)s
  and not exists (select 1 from made);

-- name: relay_outbox_sending
update public.relay_outbox set status = 'sending', attempts = attempts + 1, attempted_at = now()
where id = %(id)s;

-- name: relay_outbox_sent
update public.relay_outbox set status = 'sent', sent_at = now(), response = %(response)s::jsonb, error = null
where id = %(id)s;

-- name: relay_outbox_back
-- A send the platform refused for now (rate limit): pending again, tried later.
update public.relay_outbox set status = 'pending', error = %(error)s where id = %(id)s;

-- name: relay_outbox_failed
update public.relay_outbox set status = %(status)s, error = %(error)s where id = %(id)s;

-- name: relay_outbox_of_inbox
-- `started_at`: when the last send began (unix seconds), for judging a part found `sending`.
select o.id, o.part, o.status, o.attempts, o.payload, o.idempotency_key,
       extract(epoch from o.attempted_at)::float8 as started_at, o.platform_status, o.platform_message_id
from public.relay_outbox o
where o.inbox_id = %(inbox_id)s
order by o.part;

-- name: relay_outbox_platform_status
-- A status webhook for a part (by the key its send carried): kept only when it moves the part on
-- (sent < delivered < read), so redeliveries and out-of-order statuses change nothing.
update public.relay_outbox
set platform_status = %(status)s, platform_status_at = now(),
    platform_message_id = coalesce(platform_message_id, %(message_id)s)
where idempotency_key = %(key)s and relay = %(relay)s::public.relay_kind
  and coalesce(array_position(array['sent', 'delivered', 'read'], platform_status), 0)
      < array_position(array['sent', 'delivered', 'read'], %(status)s::text)
returning id;
