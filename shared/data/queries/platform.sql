-- Creator platform (shared/platform). Writes run as service_role after the code checked who may act,
-- and every write names the creator it acts for; the creator's own reads run as the user (RLS).
-- "Working version": the newest version of an agent that is not published yet (draft, scanning,
-- review or rejected); an agent has at most one.

-- name: platform_role
select p.role::text as role from public.profiles p where p.id = %(user_id)s;

-- name: platform_is_admin
select (select private.is_admin()) as is_admin;

-- name: platform_agent_create
insert into public.agents (creator_id, slug, name, tagline, description, category, tags, pricing_model,
                           credits_price, memory_mb, relays, models, status)
values (%(creator_id)s, %(slug)s, %(agent_name)s, %(tagline)s, %(description)s, %(category)s, %(tags)s,
        %(pricing_model)s::public.pricing_model, %(credits_price)s, %(memory_mb)s,
        %(relays)s::public.relay_kind[], %(models)s, 'draft')
on conflict (slug) do nothing
returning id;

-- name: platform_slug_owner
select a.creator_id from public.agents a where a.slug = %(slug)s;

-- name: platform_agent_apply_listing
update public.agents set
  name = %(agent_name)s, tagline = %(tagline)s, description = %(description)s, category = %(category)s, tags = %(tags)s,
  pricing_model = %(pricing_model)s::public.pricing_model, credits_price = %(credits_price)s,
  memory_mb = %(memory_mb)s, relays = %(relays)s::public.relay_kind[], models = %(models)s
where id = %(agent_id)s;

-- name: platform_agent_lock
select a.id, a.creator_id, a.slug, a.name, a.status::text as status, a.current_version_id
from public.agents a
where a.slug = %(slug)s and a.creator_id = %(creator_id)s
for update;

-- An agent that was never published mirrors its working version's state; a published (or archived)
-- one keeps its status while a new version is worked on.
-- name: platform_agent_set_status
update public.agents set status = %(status)s::public.agent_status
where id = %(agent_id)s and status in ('draft', 'review', 'rejected');

-- name: platform_working_version
select v.id, v.status::text as status, v.version, v.bundle, v.scan_findings
from public.agent_versions v
where v.agent_id = %(agent_id)s and v.status in ('draft', 'scanning', 'review', 'rejected')
order by v.created_at desc, v.id desc
limit 1
for update;

-- name: platform_version_create
insert into public.agent_versions (agent_id, creator_id, version, openclaw_version, bundle, changelog, status)
values (%(agent_id)s, %(creator_id)s, %(version)s, %(openclaw_version)s, %(bundle)s::jsonb, %(changelog)s, 'draft')
returning id;

-- name: platform_version_replace
update public.agent_versions set
  version = %(version)s, openclaw_version = %(openclaw_version)s, bundle = %(bundle)s::jsonb,
  changelog = %(changelog)s, status = 'draft', scan_findings = '[]'::jsonb, review_reason = null, submitted_at = null
where id = %(version_id)s and creator_id = %(creator_id)s;

-- name: platform_my_agents
select a.id, a.slug, a.name, a.tagline, a.category, a.status::text as status, a.current_version_id,
       a.created_at, a.updated_at, w.version, w.status as version_status
from public.agents a
left join lateral (
  select v.version, v.status::text as status from public.agent_versions v
  where v.agent_id = a.id and (v.status in ('draft', 'scanning', 'review', 'rejected') or v.id = a.current_version_id)
  order by (v.id = a.current_version_id) asc, v.created_at desc, v.id desc
  limit 1
) w on true
where a.creator_id = (select auth.uid())
  and (%(after_created)s::timestamptz is null
       or (a.created_at, a.id) < (%(after_created)s::timestamptz, %(after_id)s::uuid))
order by a.created_at desc, a.id desc
limit %(limit)s;

-- name: platform_my_agent
select a.id, a.slug, a.name, a.tagline, a.description, a.category, a.tags, a.status::text as status,
       a.pricing_model::text as pricing_model, a.credits_price, a.memory_mb, a.relays::text[] as relays, a.models,
       a.current_version_id, a.created_at, a.updated_at
from public.agents a
where a.slug = %(slug)s and a.creator_id = (select auth.uid());

-- The version a creator's page shows: the working one, else the published one. Files are listed with
-- their size and SHA-256 computed here, so the (large) bundle never leaves the database for a read;
-- only the skills' SKILL.md files come along (their front matter is the skill list).
-- name: platform_shown_version
select v.id, v.version, v.status::text as status, v.openclaw_version, v.changelog, v.scan_findings as findings,
       v.review_reason, v.created_at, v.submitted_at, v.published_at,
       (select coalesce(jsonb_agg(jsonb_build_object(
                 'path', f.key, 'size', length(decode(f.value #>> '{}', 'base64')),
                 'sha256', encode(sha256(decode(f.value #>> '{}', 'base64')), 'hex')) order by f.key), '[]'::jsonb)
        from jsonb_each(v.bundle -> 'files') f) as files,
       (select coalesce(jsonb_object_agg(f.key, f.value), '{}'::jsonb)
        from jsonb_each(v.bundle -> 'files') f where f.key like 'skills/%%/SKILL.md') as skill_docs
from public.agent_versions v
where v.agent_id = %(agent_id)s
  and (v.status in ('draft', 'scanning', 'review', 'rejected') or v.id = %(current_version_id)s::uuid)
order by (v.id = %(current_version_id)s::uuid) is true asc, v.created_at desc, v.id desc
limit 1;

-- name: platform_version_decisions
select d.id, d.decision, d.reason, case when d.decided_by is null then 'scan' else 'admin' end as decided_by,
       d.created_at, ap.id as appeal_id, ap.message as appeal_message, ap.created_at as appeal_created_at
from public.review_decisions d
left join public.review_appeals ap on ap.decision_id = d.id
where d.version_id = %(version_id)s
order by d.created_at, d.id;

-- name: platform_version_flag
update public.agent_versions set
  status = %(status)s::public.version_status, scan_findings = %(findings)s::jsonb, review_reason = %(reason)s,
  submitted_at = now()
where id = %(version_id)s;

-- name: platform_decision_create
insert into public.review_decisions (version_id, creator_id, decision, reason, decided_by)
values (%(version_id)s, %(creator_id)s, %(decision)s, %(reason)s, %(decided_by)s)
returning id;

-- name: platform_skills_clear
delete from public.agent_skills where version_id = %(version_id)s;

-- name: platform_skill_create
insert into public.agent_skills (version_id, creator_id, name, description, permissions, content_hash, permissions_hash)
values (%(version_id)s, %(creator_id)s, %(skill_name)s, %(description)s, %(permissions)s::jsonb, %(content_hash)s,
        %(permissions_hash)s)
returning id;

-- name: platform_signature_create
insert into public.skill_signatures (skill_id, creator_id, key_id, content_hash, permissions_hash, signature)
values (%(skill_id)s, %(creator_id)s, %(key_id)s, %(content_hash)s, %(permissions_hash)s, %(signature)s);

-- name: platform_version_publish
update public.agent_versions set
  status = 'published', bundle = %(bundle)s::jsonb, scan_findings = %(findings)s::jsonb,
  review_reason = %(reason)s, submitted_at = coalesce(submitted_at, now()), published_at = now()
where id = %(version_id)s;

-- name: platform_versions_supersede
update public.agent_versions set status = 'superseded'
where agent_id = %(agent_id)s and status = 'published' and id <> %(version_id)s;

-- name: platform_agent_publish
update public.agents set status = 'published', current_version_id = %(version_id)s,
  published_at = coalesce(published_at, now())
where id = %(agent_id)s;

-- name: platform_version_lock
select v.id, v.status::text as status, v.version, v.bundle, v.scan_findings, v.agent_id, v.creator_id,
       a.slug, a.name, a.status::text as agent_status
from public.agent_versions v
join public.agents a on a.id = v.agent_id
where v.id = %(version_id)s
for update of v, a;

-- name: platform_version_reject
update public.agent_versions set status = 'rejected', review_reason = %(reason)s where id = %(version_id)s;

-- name: platform_version_reopen
update public.agent_versions set status = 'review', submitted_at = now()
where id = %(version_id)s and status = 'rejected';

-- name: platform_latest_decision
select d.id, d.decision from public.review_decisions d
where d.version_id = %(version_id)s
order by d.created_at desc, d.id desc
limit 1;

-- name: platform_appeal_create
insert into public.review_appeals (decision_id, version_id, creator_id, message)
values (%(decision_id)s, %(version_id)s, %(creator_id)s, %(message)s)
on conflict (decision_id) do nothing
returning id, created_at;

-- Read as the admin (RLS lets admins see every version); oldest submission first.
-- name: platform_review_queue
select v.id as version_id, v.version, v.scan_findings as findings, v.submitted_at,
       a.id as agent_id, a.slug, a.name, a.status::text as agent_status, a.creator_id,
       private.creator_name(a.creator_id) as creator_name,
       (select coalesce(jsonb_agg(jsonb_build_object(
                 'path', f.key, 'size', length(decode(f.value #>> '{}', 'base64')),
                 'sha256', encode(sha256(decode(f.value #>> '{}', 'base64')), 'hex')) order by f.key), '[]'::jsonb)
        from jsonb_each(v.bundle -> 'files') f) as files,
       (select coalesce(jsonb_object_agg(f.key, f.value), '{}'::jsonb)
        from jsonb_each(v.bundle -> 'files') f where f.key like 'skills/%%/SKILL.md') as skill_docs
from public.agent_versions v
join public.agents a on a.id = v.agent_id
where v.status = 'review'
  and (%(after_submitted)s::timestamptz is null
       or (v.submitted_at, v.id) > (%(after_submitted)s::timestamptz, %(after_id)s::uuid))
order by v.submitted_at, v.id
limit %(limit)s;

-- name: platform_notify
insert into public.notifications (user_id, kind, title, body, data)
values (%(user_id)s, %(kind)s, %(title)s, %(body)s, %(data)s::jsonb);

-- name: platform_notify_admins
insert into public.notifications (user_id, kind, title, body, data)
select p.id, %(kind)s, %(title)s, %(body)s, %(data)s::jsonb
from public.profiles p
where p.role = 'admin' and p.deleted_at is null;

-- name: signing_keys_list
select k.key_id, k.public_key, k.status, k.created_at from public.signing_keys k
order by k.created_at desc, k.key_id;

-- name: signing_key_rotate
select r.key_id, r.status from private.rotate_signing_key(%(key_id)s, %(public_key)s) r;

-- The agent page's current version: its skills with the §5c values (private.version_skills decides
-- who may see them).
-- name: version_skills
select s.name, s.description, s.permissions, s.content_hash, s.permissions_hash, s.signature, s.key_id
from private.version_skills(%(version_id)s) s;

-- Versions (shared/platform/versions.py) ------------------------------------------------------------
-- "Unsubmitted": a draft version. Submit acts on the newest one (an agent has at most one: a new
-- version is refused while a draft exists).
-- name: platform_unsubmitted_version
select v.id, v.status::text as status, v.version, v.bundle, v.scan_findings
from public.agent_versions v
where v.agent_id = %(agent_id)s and v.status = 'draft'
order by v.created_at desc, v.id desc
limit 1
for update;

-- What an appeal is about: the newest version waiting for review or rejected.
-- name: platform_appealable_version
select v.id, v.status::text as status, v.version
from public.agent_versions v
where v.agent_id = %(agent_id)s and v.status in ('review', 'rejected')
order by v.created_at desc, v.id desc
limit 1
for update;

-- name: platform_version_taken
select exists (select 1 from public.agent_versions v where v.agent_id = %(agent_id)s and v.version = %(version)s)
  as taken;

-- name: platform_current_version
select v.id, v.version from public.agents a join public.agent_versions v on v.id = a.current_version_id
where a.id = %(agent_id)s;

-- A version that publishes ends the older work nobody can publish any more (a draft, a version in
-- review or rejected, handed in before it): publishing one of them would roll the agent back.
-- name: platform_versions_retire_older
update public.agent_versions o set status = 'superseded'
from public.agent_versions v
where v.id = %(version_id)s and o.agent_id = v.agent_id and o.id <> v.id
  and o.status in ('draft', 'scanning', 'review', 'rejected')
  and (o.created_at, o.id) < (v.created_at, v.id);

-- name: platform_agent_archive
update public.agents set status = 'archived' where id = %(agent_id)s and status = 'published'
returning id;

-- Every version of one of the caller's agents, newest first, with its rollout and live instance
-- counts (run as the creator: RLS + private.agent_version_counts).
-- name: platform_agent_versions
select v.id, v.version, v.status::text as status, v.changelog, v.created_at, v.submitted_at, v.published_at,
       coalesce(c.instances, 0) as instances,
       r.status as rollout_status, r.stage as rollout_stage, r.first_stage_percent, r.started_at as rollout_started_at,
       r.stage_started_at, r.finished_at as rollout_finished_at, r.detail as rollout_detail,
       coalesce(c.stages, '[]'::jsonb) as rollout_stages
from public.agent_versions v
left join public.version_rollouts r on r.version_id = v.id
left join private.agent_version_counts(%(agent_id)s) c on c.version_id = v.id
where v.agent_id = %(agent_id)s
order by v.created_at desc, v.id desc;

-- Rollout (shared/platform/rollout.py; the `rollout_version` job) -----------------------------------
-- Eligible for a rollout: a live instance the update job can move (provisioning ones run it after
-- their provision: same job lock), not pinned and not on the version yet.
-- name: rollout_live_instances
select count(*) as n from public.agent_instances i
where i.agent_id = %(agent_id)s and i.status not in ('destroyed', 'destroying');

-- name: rollout_supersede_others
update public.version_rollouts set status = 'superseded', finished_at = now(),
  detail = 'A newer version was published before this rollout finished.'
where agent_id = %(agent_id)s and status = 'rolling' and version_id <> %(version_id)s;

-- name: rollout_create
insert into public.version_rollouts (version_id, agent_id, creator_id, first_stage_percent)
values (%(version_id)s, %(agent_id)s, %(creator_id)s, %(percent)s)
on conflict (version_id) do nothing;

-- name: rollout_lock
select r.version_id, r.agent_id, r.creator_id, r.status, r.stage, r.first_stage_percent, r.selected_at,
       a.current_version_id, a.name as agent_name, v.version
from public.version_rollouts r
join public.agents a on a.id = r.agent_id
join public.agent_versions v on v.id = r.version_id
where r.version_id = %(version_id)s
for update of r;

-- name: rollout_eligible_count
select count(*) as n from public.agent_instances i
where i.agent_id = %(agent_id)s and i.status in ('provisioning', 'running', 'suspended', 'stopped')
  and i.version_pin is null and i.version_id is distinct from %(version_id)s
  and not exists (select 1 from public.version_rollout_instances t
                  where t.version_id = %(version_id)s and t.instance_id = i.id);

-- The stage's instances: the quietest first (no turn streaming, least recently active), so a first
-- stage disturbs as few conversations as it can. `limit` null takes them all.
-- name: rollout_pick
insert into public.version_rollout_instances (version_id, instance_id, stage)
select %(version_id)s, e.id, %(stage)s
from (
  select i.id from public.agent_instances i
  where i.agent_id = %(agent_id)s and i.status in ('provisioning', 'running', 'suspended', 'stopped')
    and i.version_pin is null and i.version_id is distinct from %(version_id)s
    and not exists (select 1 from public.version_rollout_instances t
                    where t.version_id = %(version_id)s and t.instance_id = i.id)
  order by exists (select 1 from public.turns s where s.instance_id = i.id and s.status = 'streaming'),
           i.last_active_at, i.id
  limit %(pick)s
) e
returning instance_id;

-- Outcomes of the pending targets: updated (on the version), skipped (gone or pinned meanwhile),
-- pending (its update job is still queued or running: it re-queues itself while a turn streams, and
-- procrastinate keeps a retried job `todo`), else failed. `lock` is the instance's job lock
-- (shared.jobs.catalogue.instance_lock) with the id appended here.
-- name: rollout_resolve
update public.version_rollout_instances t set status = o.outcome, finished_at = now()
from (
  select p.instance_id,
         case
           when i.id is null or i.status in ('destroyed', 'destroying') then 'skipped'
           when i.version_id = p.version_id then 'updated'
           when i.version_pin is not null then 'skipped'
           when exists (select 1 from procrastinate.procrastinate_jobs j
                        where j.lock = %(lock_prefix)s || p.instance_id::text and j.task_name = %(task)s
                          and j.status in ('todo', 'doing') and j.args ->> 'version_id' = p.version_id::text)
             then 'pending'
           else 'failed'
         end as outcome
  from public.version_rollout_instances p
  left join public.agent_instances i on i.id = p.instance_id
  where p.version_id = %(version_id)s and p.status = 'pending'
) o
where t.version_id = %(version_id)s and t.instance_id = o.instance_id and o.outcome <> 'pending';

-- name: rollout_stage_counts
select count(*) as total, count(*) filter (where status = 'pending') as pending,
       count(*) filter (where status = 'failed') as failed, count(*) filter (where status = 'updated') as updated
from public.version_rollout_instances
where version_id = %(version_id)s and stage = %(stage)s;

-- name: rollout_selected
update public.version_rollouts set selected_at = now() where version_id = %(version_id)s;

-- name: rollout_next_stage
update public.version_rollouts set stage = 2, selected_at = null, stage_started_at = now()
where version_id = %(version_id)s and stage = 1;

-- name: rollout_finish
update public.version_rollouts set status = %(status)s, finished_at = now(), detail = %(detail)s
where version_id = %(version_id)s and status = 'rolling';

-- Pins (shared/platform/rollout.py) ---------------------------------------------------------------
-- name: instance_pin_lock
select i.id, i.status::text as status, i.agent_id, i.version_id, i.version_pin, a.current_version_id
from public.agent_instances i
join public.agents a on a.id = i.agent_id
where i.id = %(id)s and i.user_id = %(user_id)s
for update of i;

-- name: pin_version_of_agent
select v.id, v.status::text as status, v.published_at from public.agent_versions v
where v.id = %(version_id)s and v.agent_id = %(agent_id)s;

-- name: instance_set_pin
update public.agent_instances set version_pin = %(version_pin)s::uuid where id = %(id)s;

-- What the update job moves an instance to (shared/lifecycle/update.py): its pin, else the agent's
-- current version.
-- name: instance_update_target
select i.version_pin, a.current_version_id
from public.agent_instances i join public.agents a on a.id = i.agent_id
where i.id = %(id)s;

-- Dashboard (shared/platform/dashboard.py) --------------------------------------------------------
-- One creator's numbers, all in SQL: for each of their agents and each UTC day of the last `days`
-- days — hires (instances created), sessions started, credits users spent on it (the ledger's turn
-- debits), tokens (usage_events), earnings; and as of now — live instances, earnings pending (no
-- payout yet, or one not paid) and paid (in a paid payout). Agents with nothing still get their rows
-- (zeros), so a chart needs no gap filling.
-- name: platform_dashboard
with period as (
  select (now() at time zone 'utc')::date - (%(days)s::integer - 1) as first_day,
         (now() at time zone 'utc')::date as last_day
),
since as (select (p.first_day::timestamp at time zone 'utc') as t from period p),
mine as (
  select a.id, a.slug, a.name, a.status::text as status, a.created_at
  from public.agents a where a.creator_id = %(creator_id)s
),
days as (
  select d::date as day from period p, generate_series(p.first_day, p.last_day, interval '1 day') d
),
hires as (
  select i.agent_id, (i.created_at at time zone 'utc')::date as day, count(*) as n
  from public.agent_instances i join mine m on m.id = i.agent_id, since s
  where i.created_at >= s.t group by 1, 2
),
sessions as (
  select i.agent_id, (x.created_at at time zone 'utc')::date as day, count(*) as n
  from public.sessions x join public.agent_instances i on i.id = x.instance_id join mine m on m.id = i.agent_id, since s
  where x.created_at >= s.t group by 1, 2
),
spent as (
  select i.agent_id, (c.created_at at time zone 'utc')::date as day,
         sum(-(c.subscription_delta + c.topup_delta)) as n
  from public.credit_transactions c
  join public.turns t on t.id = c.turn_id
  join public.agent_instances i on i.id = t.instance_id
  join mine m on m.id = i.agent_id, since s
  where c.kind = 'debit' and c.turn_id is not null and c.created_at >= s.t group by 1, 2
),
tokens as (
  select u.agent_id, (u.created_at at time zone 'utc')::date as day,
         sum(u.input_tokens) as input_tokens, sum(u.output_tokens) as output_tokens
  from public.usage_events u join mine m on m.id = u.agent_id, since s
  where u.created_at >= s.t group by 1, 2
),
earned as (
  select e.agent_id, (e.created_at at time zone 'utc')::date as day, sum(e.credits) as n
  from public.creator_earnings e, since s
  where e.creator_id = %(creator_id)s and e.created_at >= s.t group by 1, 2
),
grid as (
  select m.id as agent_id, d.day, coalesce(h.n, 0) as hires, coalesce(se.n, 0) as sessions,
         coalesce(sp.n, 0) as credits_consumed, coalesce(tk.input_tokens, 0) as input_tokens,
         coalesce(tk.output_tokens, 0) as output_tokens, coalesce(ea.n, 0) as earnings
  from mine m cross join days d
  left join hires h on h.agent_id = m.id and h.day = d.day
  left join sessions se on se.agent_id = m.id and se.day = d.day
  left join spent sp on sp.agent_id = m.id and sp.day = d.day
  left join tokens tk on tk.agent_id = m.id and tk.day = d.day
  left join earned ea on ea.agent_id = m.id and ea.day = d.day
),
live as (
  select i.agent_id, count(*) as n from public.agent_instances i join mine m on m.id = i.agent_id
  where i.status not in ('destroyed', 'destroying') group by 1
),
balance as (
  select e.agent_id,
         coalesce(sum(e.credits) filter (where p.status = 'paid'), 0) as paid,
         coalesce(sum(e.credits) filter (where p.status is distinct from 'paid'), 0) as pending
  from public.creator_earnings e left join public.payouts p on p.id = e.payout_id
  where e.creator_id = %(creator_id)s group by 1
),
per_agent as (
  select m.id, m.slug, m.name, m.status, m.created_at,
         sum(g.hires) as hires, sum(g.sessions) as sessions, sum(g.credits_consumed) as credits_consumed,
         sum(g.input_tokens) as input_tokens, sum(g.output_tokens) as output_tokens, sum(g.earnings) as earnings,
         coalesce(max(l.n), 0) as active_instances, coalesce(max(b.pending), 0) as earnings_pending,
         coalesce(max(b.paid), 0) as earnings_paid,
         jsonb_agg(jsonb_build_object('date', g.day, 'hires', g.hires, 'sessions', g.sessions,
                                      'credits_consumed', g.credits_consumed, 'input_tokens', g.input_tokens,
                                      'output_tokens', g.output_tokens, 'earnings', g.earnings) order by g.day) as daily
  from mine m
  join grid g on g.agent_id = m.id
  left join live l on l.agent_id = m.id
  left join balance b on b.agent_id = m.id
  group by m.id, m.slug, m.name, m.status, m.created_at
),
daily as (
  select d.day, coalesce(sum(g.hires), 0) as hires, coalesce(sum(g.sessions), 0) as sessions,
         coalesce(sum(g.credits_consumed), 0) as credits_consumed, coalesce(sum(g.input_tokens), 0) as input_tokens,
         coalesce(sum(g.output_tokens), 0) as output_tokens, coalesce(sum(g.earnings), 0) as earnings
  from days d left join grid g on g.day = d.day
  group by d.day
)
select jsonb_build_object(
  'period', (select jsonb_build_object('start', p.first_day, 'end', p.last_day, 'days', %(days)s::integer) from period p),
  'totals', (select jsonb_build_object(
               'hires', coalesce(sum(a.hires), 0), 'active_instances', coalesce(sum(a.active_instances), 0),
               'sessions', coalesce(sum(a.sessions), 0), 'credits_consumed', coalesce(sum(a.credits_consumed), 0),
               'input_tokens', coalesce(sum(a.input_tokens), 0), 'output_tokens', coalesce(sum(a.output_tokens), 0),
               'earnings', coalesce(sum(a.earnings), 0), 'earnings_pending', coalesce(sum(a.earnings_pending), 0),
               'earnings_paid', coalesce(sum(a.earnings_paid), 0)) from per_agent a),
  'daily', (select coalesce(jsonb_agg(jsonb_build_object(
               'date', d.day, 'hires', d.hires, 'sessions', d.sessions, 'credits_consumed', d.credits_consumed,
               'input_tokens', d.input_tokens, 'output_tokens', d.output_tokens, 'earnings', d.earnings)
               order by d.day), '[]'::jsonb) from daily d),
  'agents', (select coalesce(jsonb_agg(jsonb_build_object(
               'agent_id', a.id, 'slug', a.slug, 'name', a.name, 'status', a.status, 'hires', a.hires,
               'active_instances', a.active_instances, 'sessions', a.sessions, 'credits_consumed', a.credits_consumed,
               'input_tokens', a.input_tokens, 'output_tokens', a.output_tokens, 'earnings', a.earnings,
               'earnings_pending', a.earnings_pending, 'earnings_paid', a.earnings_paid, 'daily', a.daily)
               order by a.created_at, a.id), '[]'::jsonb) from per_agent a)
) as dashboard;

-- Seed (shared/platform/seed.py) ------------------------------------------------------------------
-- name: seed_agents_state
select a.slug, a.id, a.creator_id, a.status::text as status, a.current_version_id
from public.agents a where a.slug = any(%(slugs)s::text[]);

-- The demo listings' popularity and age, set once when the seed publishes them (later hires count
-- on top through the hires trigger).
-- name: seed_listing_stats
update public.agents set hires_count = greatest(hires_count, %(hires)s),
  published_at = now() - make_interval(days => %(days_ago)s)
where id = %(agent_id)s;

-- name: seed_active_signing_key
select k.key_id from public.signing_keys k where k.status = 'active';
