-- name: chat_instance
-- The instance a chat targets, with what the 402 rule and settlement need. Service role with an
-- explicit owner filter: the agent may since have been unlisted, which must not break a hired agent.
select i.id, i.user_id, i.agent_id, i.status, a.pricing_model, a.credits_price
from public.agent_instances i
join public.agents a on a.id = i.agent_id
where i.id = %(instance_id)s and i.user_id = %(user_id)s and i.status <> 'destroyed';

-- name: chat_session_paid
-- Whether a session already paid its agent's per-session price (a turn of it earned the creator).
select exists (
  select 1 from public.turns o join public.creator_earnings e on e.turn_id = o.id
  where o.session_id = %(session_id)s
) as paid;

-- name: turn_by_client_id
select t.id, t.session_id, t.instance_id, t.status, t.user_message_id, t.assistant_message_id
from public.turns t
where t.user_id = %(user_id)s and t.client_message_id = %(client_message_id)s;

-- name: session_of_user
select s.id, s.instance_id from public.sessions s
where s.id = %(session_id)s and s.user_id = %(user_id)s and s.instance_id = %(instance_id)s;

-- name: session_create
insert into public.sessions (user_id, instance_id, title, channel)
values (%(user_id)s, %(instance_id)s, left(%(title)s, 80), %(channel)s)
returning id;

-- name: turn_create
-- A concurrent request with the same client_message_id loses here and attaches to the winner.
insert into public.turns (session_id, user_id, instance_id, client_message_id)
values (%(session_id)s, %(user_id)s, %(instance_id)s, %(client_message_id)s)
on conflict (user_id, client_message_id) do nothing
returning id;

-- name: message_create
insert into public.messages (session_id, user_id, turn_id, role, content)
values (%(session_id)s, %(user_id)s, %(turn_id)s, %(role)s, %(content)s)
returning id;

-- name: chat_open_turn
-- A web turn opened in one statement (migrations 20261201170001, 20261201190001): the route's rate
-- limit, instance, session, turn, messages, hold and lease; `outcome` says which (opened | rate_limited |
-- deleted | not_found | unusual | insufficient | too_many; `deleted`: the account was deleted).
select outcome, agent_id, instance_status, session_id, price, available, lease_id, retry_after
from private.chat_open_turn(%(user_id)s::uuid, %(instance_id)s::uuid, %(session_id)s::uuid, %(ids)s::uuid[],
                            %(client_message_id)s::text, %(message)s::text, %(metered)s::integer,
                            %(lease_kind)s::text, %(cap)s::integer, %(ttl_s)s::double precision,
                            %(rate_key)s::text, %(rate_limit)s::integer, %(rate_window_s)s::integer);

-- name: turn_link_messages
update public.turns set user_message_id = %(user_message_id)s, assistant_message_id = %(assistant_message_id)s
where id = %(turn_id)s;

-- name: session_touch
update public.sessions set last_message_at = now() where id = %(session_id)s;

-- name: turn_frame
-- One frame (~50 ms of events) in one statement and one round trip: the events, the turn's last id,
-- the growing assistant message, and the Realtime broadcast on `session:{id}`. `events` is
-- `[{id, event, data}]`, stored as it is and broadcast as it is (`{turn_id, session_id, events}`).
with ev as (
  insert into public.turn_events (turn_id, seq, user_id, event, data)
  select %(turn_id)s, e.id, %(user_id)s, e.event, e.data
  from jsonb_to_recordset(%(events)s::jsonb) as e(id int, event text, data jsonb)
  on conflict (turn_id, seq) do nothing
  returning 1
), t as (
  update public.turns set last_seq = greatest(last_seq, %(last_seq)s)
  where id = %(turn_id)s
  returning assistant_message_id
), m as (
  update public.messages msg
  set content = msg.content || %(text)s, tool_events = msg.tool_events || %(tools)s::jsonb
  from t where msg.id = t.assistant_message_id
  returning 1
)
select (select count(*) from ev) as written, (select count(*) from m) as grown,
       realtime.send(jsonb_build_object('turn_id', %(turn_id)s::uuid::text, 'session_id', %(session_id)s::uuid::text,
                                        'events', %(events)s::jsonb), 'turn', %(topic)s, true) as sent;

-- name: turn_finish
update public.turns set status = %(status)s::public.turn_status, finished_at = now(), error = %(error)s::jsonb
where id = %(turn_id)s and status = 'streaming'
returning id;

-- name: message_usage
update public.messages set input_tokens = %(input_tokens)s, output_tokens = %(output_tokens)s
where id = %(message_id)s;

-- name: usage_event_record
-- Unique per source request: a retried `done` records usage once.
insert into public.usage_events (user_id, instance_id, agent_id, turn_id, source_request_id, model,
                                 input_tokens, output_tokens, compute_seconds)
values (%(user_id)s, %(instance_id)s, %(agent_id)s, %(turn_id)s, %(source_request_id)s, %(model)s,
        %(input_tokens)s, %(output_tokens)s, %(compute_seconds)s)
on conflict (source_request_id) do nothing;

-- name: turn_for_user
select t.id, t.session_id, t.status, t.last_seq from public.turns t where t.id = %(turn_id)s;

-- name: turn_events_after
select e.seq, e.event, e.data from public.turn_events e
where e.turn_id = %(turn_id)s and e.seq > %(after)s
order by e.seq
limit 1000;

-- name: session_for_user
select s.id, s.instance_id from public.sessions s where s.id = %(session_id)s;

-- name: instance_sessions
select s.id, s.instance_id, s.title, s.channel, s.created_at, s.last_message_at
from public.sessions s
where s.instance_id = %(instance_id)s
  and (%(after_at)s::timestamptz is null or (s.last_message_at, s.id) < (%(after_at)s::timestamptz, %(after_id)s::uuid))
order by s.last_message_at desc, s.id desc
limit %(limit)s;

-- name: session_messages
select m.id, m.turn_id, m.role, m.content, m.tool_events, m.input_tokens, m.output_tokens, m.created_at
from public.messages m
where m.session_id = %(session_id)s
  and (%(after_at)s::timestamptz is null or (m.created_at, m.id) > (%(after_at)s::timestamptz, %(after_id)s::uuid))
order by m.created_at, m.id
limit %(limit)s;

-- name: instance_visible
select i.id from public.agent_instances i where i.id = %(instance_id)s;

-- name: turn_followed
update public.turns set followed_at = now() where id = %(turn_id)s and status = 'streaming';

-- name: turn_follower_since
select coalesce(followed_at >= %(since)s::timestamptz, false) as followed from public.turns where id = %(turn_id)s;

-- name: instance_status_for_user
select i.id, i.status::text as status from public.agent_instances i
where i.id = %(instance_id)s and i.status <> 'destroyed';

-- name: session_follow_start
-- Where a follower starts: the session's turns still streaming, each with how far it has got.
select now() as since,
       coalesce(jsonb_object_agg(t.id, t.last_seq) filter (where t.status = 'streaming'), '{}'::jsonb) as seen
from public.turns t
where t.session_id = %(session_id)s and t.status = 'streaming';

-- name: session_events_since
-- A follower's tail, read as the user: events of the session's turns that are live or finished
-- since `since`, after the last seq sent per turn (`seen`). Only rows the streaming function wrote
-- reach a follower; a notification's payload never does (anyone may pg_notify).
select e.turn_id, e.seq, e.event, e.data
from public.turns t
join public.turn_events e on e.turn_id = t.id
where t.session_id = %(session_id)s
  and (t.status = 'streaming' or t.finished_at >= %(since)s::timestamptz or t.created_at >= %(since)s::timestamptz)
  and e.seq > coalesce((%(seen)s::jsonb ->> t.id::text)::int, 0)
order by t.created_at, t.id, e.seq
limit 1000;
