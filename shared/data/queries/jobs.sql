-- name: job_defer
-- Defers a procrastinate job inside the caller's transaction, so the job exists iff the rows that
-- need it were committed. `lock` serialises jobs of one instance; `queueing_lock` keeps at most one
-- such job waiting.
select unnest(procrastinate.procrastinate_defer_jobs_v1(array[row(
  %(queue)s, %(task)s, %(priority)s, %(lock)s, %(queueing_lock)s, %(args)s::jsonb, %(scheduled_at)s::timestamptz
)::procrastinate.procrastinate_job_to_defer_v1])) as id;

-- name: jobs_pending
select count(*) as n from procrastinate.procrastinate_jobs where status in ('todo', 'doing');

-- name: jobs_stalled
-- Jobs left `doing` by a worker that stopped sending heartbeats (killed, lost its host), or by one
-- already pruned. Their per-instance locks would otherwise block that instance's queue forever.
select j.id, j.task_name, j.lock
from procrastinate.procrastinate_jobs j
left join procrastinate.procrastinate_workers w on w.id = j.worker_id
where j.status = 'doing'
  and (j.worker_id is null or w.id is null or w.last_heartbeat < now() - make_interval(secs => %(after_s)s));

-- name: job_retry_now
select procrastinate.procrastinate_retry_job_v2(%(id)s, now(), null, null, null);
