-- Agent lifecycle (shared/lifecycle, ARCHITECTURE §4). Every status change is one guarded update
-- from an allowed-from set (`instance_transition`); Fly resource ids are recorded as soon as they
-- exist so a retried job resumes instead of creating twice.

-- name: lifecycle_agent_for_hire
select a.id, a.current_version_id, a.memory_mb
from public.agents a
where a.slug = %(slug)s and a.status = 'published';

-- name: lifecycle_hire_insert
-- `on conflict do nothing` against the one-live-instance index: of two concurrent hires, the second
-- waits for the first to commit and inserts nothing.
insert into public.agent_instances (user_id, agent_id, version_id)
values (%(user_id)s, %(agent_id)s, %(version_id)s)
on conflict (user_id, agent_id) where status <> 'destroyed' do nothing
returning id;

-- name: lifecycle_live_instance
select id from public.agent_instances
where user_id = %(user_id)s and agent_id = %(agent_id)s and status <> 'destroyed';

-- name: instance_view
-- What the API shows of an instance (run as the user: RLS limits it to their own).
select i.id, i.agent_id, a.slug as agent_slug, a.name as agent_name, i.version_id, i.version_pin, i.display_name,
       i.model_preference, i.status::text as status, i.provision_stage::text as provision_stage,
       i.error_message, i.region, i.last_active_at, i.created_at, i.updated_at, i.destroyed_at,
       jsonb_build_object('hourly', i.spend_cap_hourly, 'daily', i.spend_cap_daily) as spend_cap
from public.agent_instances i
left join public.agents a on a.id = i.agent_id
where i.id = %(id)s;

-- name: instances_list
select i.id, i.agent_id, a.slug as agent_slug, a.name as agent_name, i.version_id, i.version_pin, i.display_name,
       i.model_preference, i.status::text as status, i.provision_stage::text as provision_stage,
       i.error_message, i.region, i.last_active_at, i.created_at, i.updated_at, i.destroyed_at,
       jsonb_build_object('hourly', i.spend_cap_hourly, 'daily', i.spend_cap_daily) as spend_cap
from public.agent_instances i
left join public.agents a on a.id = i.agent_id
where i.user_id = %(user_id)s
  and (%(include_destroyed)s or i.status <> 'destroyed')
  and (%(after_created)s::timestamptz is null
       or (i.created_at, i.id) < (%(after_created)s::timestamptz, %(after_id)s::uuid))
order by i.created_at desc, i.id desc
limit %(limit)s;

-- name: instance_patch
update public.agent_instances set
  display_name = coalesce(%(display_name)s, display_name),
  model_preference = case when %(set_model)s then %(model_preference)s else model_preference end
where id = %(id)s and status <> 'destroyed'
returning id;

-- name: instance_status_of
-- The owner's instance, locked for the rest of the transaction (API actions check, then defer).
select id, status::text as status, fly_machine_id
from public.agent_instances
where id = %(id)s and user_id = %(user_id)s
for update;

-- name: instance_row
-- Everything a lifecycle job needs about one instance.
select i.id, i.user_id, i.agent_id, i.version_id, i.status::text as status,
       i.provision_stage::text as provision_stage, i.fly_app, i.fly_machine_id, i.fly_volume_id, i.region,
       i.gateway_token_secret_id, i.last_active_at, i.health_failures, i.error_message, i.updated_at,
       coalesce(a.memory_mb, 2048) as memory_mb
from public.agent_instances i
left join public.agents a on a.id = i.agent_id
where i.id = %(id)s;

-- name: instance_transition
-- The one guarded status update: it happens only from an allowed state.
update public.agent_instances set
  status = %(to)s::public.instance_status,
  error_message = case when %(set_error)s then %(error_message)s else error_message end,
  health_failures = case when %(reset_health)s then 0 else health_failures end,
  last_active_at = case when %(touch)s then greatest(last_active_at, now()) else last_active_at end,
  provision_stage = coalesce(%(stage)s::public.provision_stage, provision_stage),
  destroyed_at = case when %(to)s = 'destroyed' then now() else destroyed_at end
where id = %(id)s and status = any(%(allowed)s::public.instance_status[])
returning id, status::text as status;

-- name: instance_set_stage
update public.agent_instances set provision_stage = %(stage)s::public.provision_stage
where id = %(id)s and status = 'provisioning'
returning id;

-- name: instance_record_app
update public.agent_instances set fly_app = %(fly_app)s where id = %(id)s;

-- name: instance_record_volume
update public.agent_instances set fly_volume_id = %(volume_id)s, region = %(region)s where id = %(id)s;

-- name: instance_record_machine
update public.agent_instances set fly_machine_id = %(machine_id)s, region = %(region)s where id = %(id)s;

-- name: instance_clear_fly
update public.agent_instances set fly_app = null, fly_machine_id = null, fly_volume_id = null
where id = %(id)s;

-- name: instance_clear_machine
update public.agent_instances set fly_machine_id = null where id = %(id)s;

-- name: instance_set_version
update public.agent_instances set version_id = %(version_id)s where id = %(id)s;

-- name: instance_set_gateway_secret
update public.agent_instances set gateway_token_secret_id = %(secret_id)s
where id = %(id)s and gateway_token_secret_id is null
returning id;

-- name: instance_touch
update public.agent_instances set last_active_at = greatest(last_active_at, now()) where id = %(id)s;

-- name: instance_target
-- What the chat path needs to reach a machine: its app, id and gateway token (service role only).
select i.status::text as status, i.fly_app, i.fly_machine_id, s.decrypted_secret as gateway_token
from public.agent_instances i
left join vault.decrypted_secrets s on s.id = i.gateway_token_secret_id
where i.id = %(id)s;

-- name: instance_streaming
select exists (
  select 1 from public.turns where instance_id = %(id)s and status = 'streaming'
) as streaming;

-- name: vault_create_secret
select vault.create_secret(%(secret)s, %(secret_name)s, %(description)s) as id;

-- name: vault_secret_id_by_name
select id from vault.secrets where name = %(secret_name)s;

-- name: vault_secret_value
select decrypted_secret as value from vault.decrypted_secrets where id = %(id)s;

-- name: vault_delete_secret
delete from vault.secrets where id = %(id)s;

-- name: notification_insert
insert into public.notifications (user_id, kind, title, body, data)
values (%(user_id)s, %(kind)s, %(title)s, %(body)s, %(data)s::jsonb)
returning id;

-- name: notifications_list
select id, kind, title, body, data, read_at, created_at
from public.notifications
where user_id = %(user_id)s
  and (not %(unread)s or read_at is null)
  and (%(after_created)s::timestamptz is null
       or (created_at, id) < (%(after_created)s::timestamptz, %(after_id)s::uuid))
order by created_at desc, id desc
limit %(limit)s;

-- Per-instance lock (ARCHITECTURE §4): a transaction-scoped advisory lock, held by keeping that
-- transaction open for the whole operation. Transaction scope works through Supabase's transaction
-- pooler too (a session lock would not), and a crashed holder's connection takes the lock with it.
-- name: lock_timeout_set
select set_config('lock_timeout', %(timeout)s, true);

-- name: instance_lock
select pg_advisory_xact_lock(hashtextextended('instance:' || %(id)s, 0));

-- name: instance_try_lock
select pg_try_advisory_xact_lock(hashtextextended('instance:' || %(id)s, 0)) as locked;

-- name: health_candidates
-- Instances whose machine the health check looks at: every one that has a machine and is meant to be
-- up or resting (`error` and `destroying` are left to their own paths).
select id, user_id, status::text as status, fly_app, fly_machine_id, health_failures, updated_at
from public.agent_instances
where status in ('running', 'suspended', 'stopped') and fly_machine_id is not null
  and (%(ids)s::uuid[] is null or id = any(%(ids)s::uuid[]));

-- name: health_sync
-- Fly suspends and stops machines on its own: bring the rows in line, in one statement. A row is
-- skipped if it changed since it was read or a lifecycle job holds its lock right now.
update public.agent_instances i set status = v.new_status
from unnest(%(ids)s::uuid[], %(old)s::public.instance_status[], %(new)s::public.instance_status[],
            %(seen)s::timestamptz[]) as v(id, old_status, new_status, seen)
where i.id = v.id and i.status = v.old_status and i.updated_at = v.seen
  and pg_try_advisory_xact_lock(hashtextextended('instance:' || i.id::text, 0))
returning i.id;

-- name: health_claim_page
-- A page of one period's sweep, claimed in the transaction that defers its probe job: NULL when a
-- sweep of that period already did.
insert into private.health_probe_pages (period, scope, page) values (%(period)s, %(scope)s, %(page)s)
on conflict do nothing
returning page;

-- name: health_forget_pages
delete from private.health_probe_pages where period < %(before)s;

-- name: health_reset_failures
update public.agent_instances set health_failures = 0
where id = any(%(ids)s::uuid[]) and health_failures > 0;

-- name: health_record_failure
update public.agent_instances set health_failures = health_failures + 1
where id = %(id)s and status = 'running'
returning health_failures;

-- name: idle_candidates
-- Running or suspended instances idle longer than the shortest plan threshold; the caller applies
-- each owner's own threshold (shared.billing.plans).
select i.id, i.last_active_at, now() as now, p.plan::text as plan, p.plan_status::text as plan_status
from public.agent_instances i
join public.profiles p on p.id = i.user_id
where i.status in ('running', 'suspended') and i.fly_machine_id is not null
  and i.last_active_at < now() - make_interval(secs => %(min_idle_s)s)
  and (%(ids)s::uuid[] is null or i.id = any(%(ids)s::uuid[]));

-- name: idle_of
select i.last_active_at, now() as now, p.plan::text as plan, p.plan_status::text as plan_status
from public.agent_instances i
join public.profiles p on p.id = i.user_id
where i.id = %(id)s;

-- name: reconcile_instances
-- The rows reconcile compares with Fly: those named by a Fly app, and every live one that has an app.
select id, user_id, status::text as status, provision_stage::text as provision_stage, fly_app,
       fly_machine_id, fly_volume_id, updated_at
from public.agent_instances
where id = any(%(ids)s::uuid[]) or (fly_app is not null and status <> 'destroyed');

-- name: lifecycle_stuck
-- Instances whose provisioning or destruction has not moved for a while (their job may be lost).
select id, status::text as status
from public.agent_instances
where status in ('provisioning', 'destroying') and updated_at < now() - make_interval(secs => %(after_s)s);

-- name: instance_bundle
-- The version whose files an instance's bridge should hold: the one asked for, else the instance's,
-- else the agent's current one (shared/lifecycle/bundle.py).
select v.id as version_id, v.bundle
from public.agent_instances i
join public.agents a on a.id = i.agent_id
join public.agent_versions v on v.id = coalesce(%(version_id)s::uuid, i.version_id, a.current_version_id)
where i.id = %(id)s;

-- Warm pool (shared/lifecycle/warm_pool.py). A unit the refill made is named `oa-pool-<its id>`; rows
-- not following that are not the refill's and are left alone.

-- name: warm_pool_unit
select id, fly_app, fly_machine_id, fly_volume_id, region, status, instance_id, gateway_token_secret_id,
       image, memory_mb, created_at
from public.warm_pool
where id = %(id)s;

-- name: warm_pool_units
-- The refill's units that are not claimed, oldest first.
select id, fly_app, fly_machine_id, fly_volume_id, region, status, instance_id, gateway_token_secret_id,
       image, memory_mb, created_at, extract(epoch from now() - created_at) as age_s
from public.warm_pool
where status in ('creating', 'ready', 'failed') and fly_app = 'oa-pool-' || id::text
order by created_at, id;

-- name: warm_pool_insert
insert into public.warm_pool (id, fly_app, region, image, memory_mb, signing_keys_digest)
values (%(id)s, %(fly_app)s, %(region)s, %(image)s, %(memory_mb)s, %(keys_digest)s)
returning id;

-- name: warm_pool_set_gateway_secret
update public.warm_pool set gateway_token_secret_id = %(secret_id)s
where id = %(id)s and gateway_token_secret_id is null
returning id;

-- name: warm_pool_record_volume
update public.warm_pool set fly_volume_id = %(volume_id)s, region = %(region)s where id = %(id)s;

-- name: warm_pool_record_machine
update public.warm_pool set fly_machine_id = %(machine_id)s, region = %(region)s where id = %(id)s;

-- name: warm_pool_mark_ready
update public.warm_pool set status = 'ready', error_message = null
where id = %(id)s and status = 'creating'
returning id;

-- name: warm_pool_mark_failed
-- A unit being made (or a ready one, locked: never one a hire is claiming) that is to be deleted.
update public.warm_pool set status = 'failed', error_message = %(reason)s
where id = any(%(ids)s::uuid[]) and status in ('creating', 'ready')
returning id;

-- name: warm_pool_retire_stale
-- Ready units made with another base image, memory size or skill signing key list than hires now
-- want: out of the pool. Rows a claim holds are skipped (and end up claimed).
update public.warm_pool set status = 'failed',
  error_message = 'retired: made with another image, memory size or signing key list'
where id in (
  select id from public.warm_pool
  where status = 'ready' and fly_app = 'oa-pool-' || id::text
    and (image <> %(image)s or memory_mb <> %(memory_mb)s or signing_keys_digest <> %(keys_digest)s)
  for update skip locked
)
returning id;

-- name: warm_pool_retire_surplus
-- Ready units beyond the target size (newest first), out of the pool; rows a claim holds are skipped.
update public.warm_pool set status = 'failed', error_message = 'retired: the pool is larger than its target'
where id in (
  select id from public.warm_pool
  where status = 'ready' and fly_app = 'oa-pool-' || id::text
  order by created_at desc, id desc
  limit greatest(0, (select count(*) from public.warm_pool
                     where status = 'ready' and fly_app = 'oa-pool-' || id::text) - %(target)s)
  for update skip locked
)
returning id;

-- name: warm_pool_delete
delete from public.warm_pool where id = %(id)s and status = 'failed';

-- name: warm_pool_release_vanished
-- A claimed unit whose machine Fly no longer has: its row goes, and the instance it was attached to
-- (still provisioning on that app) is back to nothing made, so the saga provisions it from scratch.
-- Returns the gateway-token secret the instance held (the unit's: now nobody's) for the caller to
-- delete in the same transaction; no row when the instance has moved on.
with old as (
  select id, gateway_token_secret_id from public.agent_instances
  where id = %(id)s and status = 'provisioning' and fly_app = %(fly_app)s
), unit as (
  delete from public.warm_pool w
  using old
  where w.instance_id = old.id and w.status = 'claimed' and w.fly_app = %(fly_app)s
  returning w.id
), inst as (
  update public.agent_instances i set fly_app = null, fly_machine_id = null, fly_volume_id = null,
    gateway_token_secret_id = null, provision_stage = 'queued'
  from old
  where i.id = old.id
  returning i.id
)
select (select id from unit) as unit_id, old.gateway_token_secret_id as secret_id
from old join inst on inst.id = old.id;

-- name: warm_pool_claim
-- Hire: take one ready unit (the primary region first, then the oldest) and attach its resources and
-- gateway token to the instance, in one statement. `for update skip locked` means two hires never get
-- the same unit (the second takes the next, or none); nothing is claimed unless the instance is still
-- provisioning with nothing of its own made yet.
with inst as (
  select id from public.agent_instances
  where id = %(id)s and status = 'provisioning' and fly_app is null and fly_machine_id is null
    and gateway_token_secret_id is null
  for update
), unit as (
  select w.id from public.warm_pool w
  where exists (select 1 from inst)
    and w.status = 'ready' and w.fly_app = 'oa-pool-' || w.id::text and w.fly_machine_id is not null
    and w.fly_volume_id is not null and w.gateway_token_secret_id is not null
    and w.region = any(%(regions)s::text[]) and w.image = %(image)s and w.memory_mb = %(memory_mb)s
  order by w.region = %(region)s desc, w.created_at, w.id
  limit 1
  for update skip locked
), claimed as (
  update public.warm_pool w set status = 'claimed', instance_id = %(id)s, claimed_at = now()
  from unit where w.id = unit.id
  returning w.id, w.fly_app, w.fly_machine_id, w.fly_volume_id, w.region, w.gateway_token_secret_id
)
update public.agent_instances i set
  fly_app = c.fly_app, fly_machine_id = c.fly_machine_id, fly_volume_id = c.fly_volume_id, region = c.region,
  gateway_token_secret_id = c.gateway_token_secret_id, provision_stage = 'machine'
from claimed c
where i.id = %(id)s
returning c.id as unit_id, c.fly_app, c.fly_machine_id, c.fly_volume_id, c.region;

-- name: warm_pool_lock
select pg_try_advisory_xact_lock(hashtextextended('warm-pool', 0)) as locked;

-- name: reconcile_pool_units
-- The warm-pool rows of pool apps Fly has; a claimed one names its instance (and that instance's row).
select w.id, w.fly_app, w.status, w.instance_id
from public.warm_pool w
where w.fly_app = any(%(apps)s::text[]);
