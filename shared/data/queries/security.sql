-- Access and accountability (issue 11): the audit log, SSH access, machine tokens, canaries, account
-- deletion. Service role unless a query says it runs as the user.

-- audit log -----------------------------------------------------------------------------------------

-- name: audit_insert
insert into public.audit_log (actor_id, action, target, data)
values (%(actor_id)s, %(action)s, %(target)s, %(data)s::jsonb);

-- name: audit_page
-- As the user (RLS: own rows, or every row for admins — so the owner is named explicitly too).
select id, action, target, data as details, created_at
from public.audit_log
where actor_id = %(actor_id)s and (%(after_id)s::bigint is null or id < %(after_id)s::bigint)
order by id desc
limit %(limit)s;

-- accounts ------------------------------------------------------------------------------------------

-- name: account_is_deleted
select exists (select 1 from public.profiles where id = %(user_id)s and deleted_at is not null) as deleted;

-- name: account_lock
select p.id, p.deleted_at, p.stripe_subscription_id, p.plan::text as plan, p.plan_status::text as plan_status
from public.profiles p where p.id = %(user_id)s for update;

-- name: account_live_instances
select id from public.agent_instances
where user_id = %(user_id)s and status <> 'destroyed'
order by created_at
for update;

-- name: account_erase
select private.erase_account(%(user_id)s) as erased;

-- canaries ------------------------------------------------------------------------------------------

-- name: canary_insert
insert into private.instance_canaries (instance_id, canary) values (%(instance_id)s, %(canary)s)
on conflict (instance_id) do nothing;

-- name: canary_of_instance
select canary from private.instance_canaries where instance_id = %(instance_id)s;

-- name: canary_instance_owner
select user_id from public.agent_instances where id = %(instance_id)s;

-- machine tokens ------------------------------------------------------------------------------------

-- name: gateway_token_by_hash
select h.instance_id, s.decrypted_secret as token
from private.gateway_token_hashes h
join public.agent_instances i on i.id = h.instance_id
left join vault.decrypted_secrets s on s.id = i.gateway_token_secret_id
where h.token_sha256 = %(token_sha256)s;

-- name: gateway_token_of_instance
select s.decrypted_secret as token
from public.agent_instances i
join vault.decrypted_secrets s on s.id = i.gateway_token_secret_id
where i.id = %(instance_id)s and i.status <> 'destroyed';

-- name: gateway_token_hash_upsert
insert into private.gateway_token_hashes (instance_id, token_sha256) values (%(instance_id)s, %(token_sha256)s)
on conflict (instance_id) do update set token_sha256 = excluded.token_sha256, created_at = now();

-- ssh -----------------------------------------------------------------------------------------------

-- name: ssh_owner_instance
-- The owner's instance with their plan and its gateway token, locked while its SSH config changes.
select i.id, i.status::text as status, p.plan::text as plan, p.plan_status::text as plan_status,
       s.decrypted_secret as gateway_token
from public.agent_instances i
join public.profiles p on p.id = i.user_id
left join vault.decrypted_secrets s on s.id = i.gateway_token_secret_id
where i.id = %(instance_id)s and i.user_id = %(user_id)s
for update of i;

-- name: ssh_config_lock
select instance_id, secret_id, host, port from public.ssh_configs where instance_id = %(instance_id)s for update;

-- name: ssh_vault_update
select vault.update_secret(%(id)s, %(secret)s);

-- name: ssh_config_upsert
-- A new host (or port) drops the pinned host key unless one is given: the new server is pinned afresh.
insert into public.ssh_configs as c (instance_id, user_id, secret_id, host, port, username, host_key, allow, deny, enabled)
values (%(instance_id)s, %(user_id)s, %(secret_id)s, %(host)s, %(port)s, %(username)s, %(host_key)s,
        %(allow)s::text[], %(deny)s::text[], true)
on conflict (instance_id) do update set
  secret_id = excluded.secret_id,
  host_key = case when excluded.host_key is not null then excluded.host_key
                  when c.host = excluded.host and c.port = excluded.port then c.host_key end,
  host = excluded.host, port = excluded.port, username = excluded.username,
  allow = excluded.allow, deny = excluded.deny, enabled = true, updated_at = now()
returning instance_id, host, port, username, host_key, allow, deny, created_at, updated_at;

-- name: ssh_config_delete
delete from public.ssh_configs where instance_id = %(instance_id)s and user_id = %(user_id)s
returning secret_id, host;

-- name: ssh_exec_config
-- Locked for the rest of the decision, so concurrent calls of one instance count their window in turn.
select c.instance_id, c.user_id, c.secret_id, c.host, c.port, c.username, c.host_key, c.allow, c.deny, c.enabled,
       p.plan::text as plan, p.plan_status::text as plan_status, s.decrypted_secret as private_key
from public.ssh_configs c
join public.profiles p on p.id = c.user_id
left join vault.decrypted_secrets s on s.id = c.secret_id
where c.instance_id = %(instance_id)s
for update of c;

-- name: ssh_rate_window
-- Calls that counted in the last window (refusals for the rate itself do not), and when the oldest leaves it.
select count(*) as calls,
       coalesce(extract(epoch from (min(created_at) + make_interval(secs => %(window_s)s) - now())), 0) as retry_after_s
from public.ssh_audit_log
where instance_id = %(instance_id)s and outcome <> 'rate_limited'
  and created_at > now() - make_interval(secs => %(window_s)s);

-- name: ssh_audit_insert
insert into public.ssh_audit_log (instance_id, user_id, command, allowed, outcome, detail, exit_code)
values (%(instance_id)s, %(user_id)s, %(command)s, %(allowed)s, %(outcome)s, %(detail)s, null)
returning id;

-- name: ssh_audit_finish
update public.ssh_audit_log
set outcome = %(outcome)s, exit_code = %(exit_code)s, output = %(output)s, output_truncated = %(truncated)s,
    detail = %(detail)s, finished_at = clock_timestamp()
where id = %(id)s
returning instance_id;

-- name: ssh_pin_host_key
update public.ssh_configs set host_key = %(host_key)s
where instance_id = %(instance_id)s and secret_id = %(secret_id)s and host_key is null;

-- name: ssh_audit_page
-- As the user (RLS: own rows).
select id, instance_id, command, outcome, allowed, exit_code, output, output_truncated, detail, created_at, finished_at
from public.ssh_audit_log
where instance_id = %(instance_id)s and (%(after_id)s::bigint is null or id < %(after_id)s::bigint)
order by id desc
limit %(limit)s;

-- name: ssh_audit_purge
delete from public.ssh_audit_log
where id in (select id from public.ssh_audit_log
             where created_at < now() - make_interval(days => %(days)s)
             order by created_at limit %(batch)s);

-- name: account_deleted_at
select deleted_at from public.profiles where id = %(user_id)s;
