-- name: job_defer
-- Defers a procrastinate job inside the caller's transaction, so the job exists iff the rows that
-- need it were committed. `lock` serialises jobs of one instance; `queueing_lock` keeps at most one
-- such job waiting.
select unnest(procrastinate.procrastinate_defer_jobs_v1(array[row(
  %(queue)s, %(task)s, %(priority)s, %(lock)s, %(queueing_lock)s, %(args)s::jsonb, %(scheduled_at)s::timestamptz
)::procrastinate.procrastinate_job_to_defer_v1])) as id;

-- name: jobs_pending
select count(*) as n from procrastinate.procrastinate_jobs where status in ('todo', 'doing');
