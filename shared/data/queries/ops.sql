-- name: metrics_queue_depth
-- Waiting jobs per queue; the age counts from when a due job became runnable (its schedule, else
-- its deferral), so a job scheduled for later does not look stuck.
select j.queue_name as queue,
       count(*) as depth,
       count(*) filter (where j.scheduled_at is null or j.scheduled_at <= now()) as due,
       coalesce(extract(epoch from now() - min(coalesce(j.scheduled_at, d.at))
                filter (where j.scheduled_at is null or j.scheduled_at <= now())), 0)::float8 as oldest_due_age_s
from procrastinate.procrastinate_jobs j
left join lateral (
  select min(e.at) as at from procrastinate.procrastinate_events e
  where e.job_id = j.id and e.type = 'deferred'
) d on true
where j.status = 'todo'
group by j.queue_name
order by j.queue_name;

-- name: metrics_jobs_stalled
-- Running jobs whose worker is gone or has not heartbeaten for `stalled_after_s` (what
-- procrastinate's own stalled-job recovery would pick up).
select count(*) as n
from procrastinate.procrastinate_jobs j
left join procrastinate.procrastinate_workers w on w.id = j.worker_id
where j.status = 'doing'
  and (w.id is null or w.last_heartbeat < now() - make_interval(secs => %(stalled_after_s)s));

-- name: metrics_jobs_failed
select task_name as task, count(*) as n
from procrastinate.procrastinate_jobs
where status = 'failed'
group by task_name
order by task_name;

-- name: admin_find_user
-- One account by e-mail (case-insensitive) or id, for `openagents admin`.
select u.id, u.email::text as email
from auth.users u
where u.id::text = %(ref)s or lower(u.email) = lower(%(ref)s)
limit 2;

-- name: admin_stuck_instances
-- Instances in a state the platform should have moved them out of: provisioning (at some stage) or
-- destroying, untouched for `after_s`; with how many of their jobs are still waiting or running.
select i.id, i.user_id, u.email::text as email, i.status::text as status,
       i.provision_stage::text as provision_stage, i.fly_app, i.error_message, i.updated_at,
       extract(epoch from now() - i.updated_at)::float8 as stuck_s,
       (select count(*) from procrastinate.procrastinate_jobs j
         where j.lock = 'instance:' || i.id::text and j.status in ('todo', 'doing')) as pending_jobs
from public.agent_instances i
left join auth.users u on u.id = i.user_id
where i.status in ('provisioning', 'destroying')
  and i.updated_at < now() - make_interval(secs => %(after_s)s)
  and (%(status)s::text is null or i.status::text = %(status)s)
  and (%(stage)s::text is null or i.provision_stage::text = %(stage)s)
order by i.updated_at;

-- name: admin_instance_jobs
-- An instance's jobs still in the queue table (successful ones are deleted once done).
select j.id
from procrastinate.procrastinate_jobs j
where j.lock = 'instance:' || %(instance_id)s or j.args ->> 'instance_id' = %(instance_id)s
order by j.id;

-- name: admin_instance_cancel_waiting
-- Before a force-destroy: the instance's waiting jobs go, so none re-creates what is being deleted.
update procrastinate.procrastinate_jobs set status = 'cancelled'
where status = 'todo' and (lock = 'instance:' || %(instance_id)s or args ->> 'instance_id' = %(instance_id)s)
returning id;

-- name: admin_force_destroyed
-- The instance is gone whatever state it was in (its Fly resources were deleted first). The Fly ids
-- stay, as after an ordinary destroy: they say what was deleted.
update public.agent_instances
set status = 'destroyed', destroyed_at = now()
where id = %(id)s and status <> 'destroyed'
returning id, status::text as status;

-- name: ledger_adjust
select * from private.ledger_adjust(%(user_id)s::uuid, %(delta)s::integer, %(key)s::text, %(reference)s::jsonb);

-- name: admin_account_profile
select p.id, u.email::text as email, p.display_name, p.role::text as role, p.plan::text as plan,
       p.plan_status::text as plan_status, p.plan_period_end, p.stripe_customer_id, p.connect_account_id,
       p.created_at, p.deleted_at,
       coalesce(b.subscription_credits, 0) as subscription_credits, b.subscription_expires_at,
       coalesce(b.topup_credits, 0) as topup_credits
from public.profiles p
left join auth.users u on u.id = p.id
left join public.credit_balances b on b.user_id = p.id
where p.id = %(user_id)s;

-- name: admin_account_instances
select i.id, a.slug as agent, i.status::text as status, i.provision_stage::text as provision_stage, i.fly_app,
       i.region, i.error_message, i.last_active_at, i.created_at
from public.agent_instances i
join public.agents a on a.id = i.agent_id
where i.user_id = %(user_id)s
order by i.created_at desc;

-- name: admin_account_ledger
select t.id, t.kind, t.subscription_delta, t.topup_delta, t.shortfall, t.subscription_after, t.topup_after,
       t.reference, t.created_at
from public.credit_transactions t
where t.user_id = %(user_id)s
order by t.id desc
limit %(limit)s;
