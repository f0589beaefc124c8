-- Versions and staged rollout (issue 10, item 7): a published version reaches the agent's live
-- instances through the update job in two stages, an instance may pin a version, and the creator sees
-- how far a rollout got. Written by server paths as service_role (shared/platform/rollout.py, the
-- `rollout_version` job); creators read their own rollouts through RLS and a definer helper that hands
-- out counts only (never the ids of their users' instances).

-- The pin: a version of the instance's own agent that has been published, or null to follow the
-- agent's current version. A pinned instance is left alone by rollouts; the pin wins over any update.
alter table public.agent_instances add column if not exists version_pin uuid
  references public.agent_versions (id) on delete set null;
create index if not exists agent_instances_version_pin_idx on public.agent_instances (version_pin)
  where version_pin is not null;
create index if not exists agent_instances_version_idx on public.agent_instances (version_id);
create index if not exists agent_instances_agent_live_idx on public.agent_instances (agent_id, last_active_at, id)
  where status <> 'destroyed';

-- One rollout per published version. `stage` 1 updates ROLLOUT_FIRST_STAGE_PERCENT of the eligible
-- instances (at least one); stage 2 the rest, once every stage-1 update succeeded. `selected_at` is
-- when the current stage's instances were chosen (null: not yet). A newer published version
-- supersedes a rollout still under way; a stage-1 failure halts it.
create table public.version_rollouts (
  version_id uuid primary key references public.agent_versions (id) on delete cascade,
  agent_id uuid not null references public.agents (id) on delete cascade,
  creator_id uuid not null references public.profiles (id),
  status text not null default 'rolling' check (status in ('rolling', 'done', 'halted', 'superseded')),
  stage smallint not null default 1 check (stage in (1, 2)),
  first_stage_percent smallint not null check (first_stage_percent between 1 and 100),
  selected_at timestamptz,
  started_at timestamptz not null default now(),
  stage_started_at timestamptz not null default now(),
  finished_at timestamptz,
  detail text check (char_length(detail) <= 2000)
);
create index version_rollouts_agent_idx on public.version_rollouts (agent_id, started_at desc);
create index version_rollouts_creator_idx on public.version_rollouts (creator_id);
create index version_rollouts_rolling_idx on public.version_rollouts (agent_id) where status = 'rolling';

-- The instances a rollout asked to update, by stage. `pending` until the job sees the outcome:
-- `updated` (the instance runs the version), `skipped` (destroyed or pinned meanwhile) or `failed`
-- (no update job is left and the instance is not on the version).
create table public.version_rollout_instances (
  version_id uuid not null references public.version_rollouts (version_id) on delete cascade,
  instance_id uuid not null references public.agent_instances (id) on delete cascade,
  stage smallint not null check (stage in (1, 2)),
  status text not null default 'pending' check (status in ('pending', 'updated', 'skipped', 'failed')),
  deferred_at timestamptz not null default now(),
  finished_at timestamptz,
  primary key (version_id, instance_id)
);
create index version_rollout_instances_instance_idx on public.version_rollout_instances (instance_id);
create index version_rollout_instances_pending_idx on public.version_rollout_instances (version_id, stage)
  where status = 'pending';

alter table public.version_rollouts enable row level security;
alter table public.version_rollout_instances enable row level security;
revoke all on public.version_rollouts, public.version_rollout_instances from anon, authenticated;
grant all on public.version_rollouts, public.version_rollout_instances to service_role;
grant select on public.version_rollouts to authenticated;
create policy version_rollouts_select_own on public.version_rollouts for select to authenticated
  using (creator_id = (select auth.uid()) or (select private.is_admin()));
-- Which of a creator's users' instances were picked is not the creator's to read: no client grant.
create policy version_rollout_instances_service on public.version_rollout_instances for all to service_role
  using (true) with check (true);

-- Per version of one of the caller's agents: live instances on it, and each rollout stage's counts.
-- A target still `pending` whose instance already runs the version counts as updated (the job writes
-- the outcome on its next pass). Creators (and admins) only; anyone else gets no rows.
create or replace function private.agent_version_counts(p_agent uuid)
returns table (version_id uuid, instances integer, stages jsonb)
language sql stable security definer set search_path = '' as $$
  with mine as (
    select a.id from public.agents a
    where a.id = p_agent and (a.creator_id = (select auth.uid()) or (select private.is_admin()))
  ),
  live as (
    select i.version_id, count(*)::integer as n
    from public.agent_instances i join mine m on m.id = i.agent_id
    where i.status not in ('destroyed', 'destroying') and i.version_id is not null
    group by i.version_id
  ),
  targets as (
    select t.version_id, t.stage,
           case when t.status = 'pending' and i.version_id = t.version_id then 'updated' else t.status end as status
    from public.version_rollout_instances t
    join public.version_rollouts r on r.version_id = t.version_id
    join mine m on m.id = r.agent_id
    left join public.agent_instances i on i.id = t.instance_id
  ),
  stages as (
    select s.version_id, jsonb_agg(jsonb_build_object(
             'stage', s.stage, 'instances', s.n, 'updated', s.updated, 'pending', s.pending,
             'failed', s.failed, 'skipped', s.skipped) order by s.stage) as stages
    from (select version_id, stage, count(*)::integer as n,
                 count(*) filter (where status = 'updated')::integer as updated,
                 count(*) filter (where status = 'pending')::integer as pending,
                 count(*) filter (where status = 'failed')::integer as failed,
                 count(*) filter (where status = 'skipped')::integer as skipped
          from targets group by version_id, stage) s
    group by s.version_id
  )
  select v.id, coalesce(l.n, 0), coalesce(s.stages, '[]'::jsonb)
  from public.agent_versions v
  join mine m on m.id = v.agent_id
  left join live l on l.version_id = v.id
  left join stages s on s.version_id = v.id
$$;
revoke all on function private.agent_version_counts(uuid) from public;
grant execute on function private.agent_version_counts(uuid) to authenticated, service_role;
