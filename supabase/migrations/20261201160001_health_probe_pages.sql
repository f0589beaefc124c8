-- The health check defers one probe job per page of Fly's machine list. Each page of a period is
-- claimed here in the transaction that defers its job, so a second sweep in the same period (the
-- cron and the workers' schedule both firing, a retried sweep) does not probe those machines twice
-- and count their failures twice. `scope` tells the org-wide sweep from one restricted to some
-- instances. Old periods are deleted by the sweep.
create table private.health_probe_pages (
  period bigint not null,  -- epoch seconds ÷ the sweep's period
  scope text not null,
  page integer not null,
  claimed_at timestamptz not null default now(),
  primary key (period, scope, page)
);
grant select, insert, delete on private.health_probe_pages to service_role;
