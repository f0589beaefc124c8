-- Access and accountability (issue 11): SSH access with its audit trail, the machine-token lookup,
-- the prompt-injection canary, the audit log's shape, and account deletion.
--
-- Everything here is written by server paths as service_role (shared/ssh, shared/security,
-- shared/audit, shared/accounts); clients read their own rows through the RLS policies of the
-- initial schema (ssh_configs, ssh_audit_log, audit_log).

-- ssh_configs: where to connect and the host key it is pinned to ------------------------------------
-- Before this migration a config had no host, so none could ever be used: none is kept, and the new
-- columns can be required outright.
delete from public.ssh_configs;
alter table public.ssh_configs
  add column host text not null check (char_length(host) between 1 and 253 and host !~ '[[:space:][:cntrl:]]'),
  add column port integer not null default 22 check (port between 1 and 65535),
  add column username text not null check (char_length(username) between 1 and 64 and username !~ '[[:space:][:cntrl:]]'),
  -- The server's public key (OpenSSH form): given with the config, or pinned on first use.
  add column host_key text check (host_key is null or char_length(host_key) <= 8192),
  add constraint ssh_configs_lists_bounded check (cardinality(allow) between 1 and 50 and cardinality(deny) <= 50);
grant select (host, port, username, host_key) on public.ssh_configs to authenticated;

-- ssh_audit_log: what each call did ------------------------------------------------------------------
--   outcome  running (recorded before the command is sent, so a call cut short still shows)
--            | completed (exit_code set) | failed (could not connect, timed out: detail says why)
--            | denied (the allow/deny lists refused it) | rate_limited | unavailable (no SSH here now)
alter table public.ssh_audit_log
  add column outcome text not null default 'completed'
    check (outcome in ('running', 'completed', 'failed', 'denied', 'rate_limited', 'unavailable')),
  add column output text not null default '' check (char_length(output) <= 4000),
  add column output_truncated boolean not null default false,
  add column detail text not null default '' check (char_length(detail) <= 500),
  add column finished_at timestamptz,
  add constraint ssh_audit_log_command_bounded check (char_length(command) <= 4096);
-- The per-instance page and the rate window read by instance; retention sweeps by age.
create index ssh_audit_log_instance_idx on public.ssh_audit_log (instance_id, id desc);
create index ssh_audit_log_window_idx on public.ssh_audit_log (instance_id, created_at) where outcome <> 'rate_limited';
create index ssh_audit_log_created_idx on public.ssh_audit_log (created_at);

-- Machine tokens: which instance a gateway token belongs to -----------------------------------------
-- The token itself stays in Vault; this is a lookup by its SHA-256, filled when a machine first
-- proves its token against Vault (or when SSH is configured), so later calls need no instance id.
create table private.gateway_token_hashes (
  instance_id uuid primary key references public.agent_instances (id) on delete cascade,
  token_sha256 text not null unique check (token_sha256 ~ '^[0-9a-f]{64}$'),
  created_at timestamptz not null default now()
);
revoke all on private.gateway_token_hashes from public, anon, authenticated;
grant select, insert, update, delete on private.gateway_token_hashes to service_role;

-- Canaries: one per instance, planted in the agent's context -----------------------------------------
-- Outbound text (web tokens, relay replies) holding it is blocked. Not a credential, but kept away from
-- clients all the same: a user who could read it could only trip their own agent.
create table private.instance_canaries (
  instance_id uuid primary key references public.agent_instances (id) on delete cascade,
  canary text not null unique check (char_length(canary) between 16 and 200),
  created_at timestamptz not null default now()
);
revoke all on private.instance_canaries from public, anon, authenticated;
grant select, insert, update, delete on private.instance_canaries to service_role;

-- audit_log: one shape for every security-relevant action --------------------------------------------
alter table public.audit_log
  add constraint audit_log_action_shape check (action ~ '^[a-z][a-z0-9_.:-]{0,63}$'),
  add constraint audit_log_target_bounded check (target is null or char_length(target) <= 200),
  add constraint audit_log_data_object check (jsonb_typeof(data) = 'object');
create index audit_log_actor_page_idx on public.audit_log (actor_id, id desc);

-- Account deletion ------------------------------------------------------------------------------------
-- Everything of an account that is about the person goes; the money records stay, under the same user
-- id, which now names a tombstone profile with no personal data ("Deleted user", no avatar, an e-mail
-- of the form deleted-<id>@deleted.invalid). Kept: credit_balances, credit_transactions, usage_events,
-- creator_earnings, payouts, meter_reports, turns (what usage was settled against), audit_log.
-- The instances are moved to `destroying` by the caller, which defers their destroy jobs in the same
-- transaction. Returns what was removed, by kind.
create or replace function private.erase_account(p_user uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_secrets integer;
  v_out jsonb;
begin
  -- Every Vault secret of the account: instance gateway tokens, BYOK keys, SSH keys, proxy tokens.
  with gone as (
    delete from vault.secrets s
    where s.id in (select i.gateway_token_secret_id from public.agent_instances i
                   where i.user_id = p_user and i.gateway_token_secret_id is not null
                   union all select k.secret_id from public.api_keys k where k.user_id = p_user
                   union all select c.secret_id from public.ssh_configs c where c.user_id = p_user
                   union all select t.secret_id from public.proxy_tokens t
                   where t.user_id = p_user and t.secret_id is not null)
    returning 1)
  select count(*) into v_secrets from gone;
  update public.agent_instances set gateway_token_secret_id = null
  where user_id = p_user and gateway_token_secret_id is not null;
  delete from private.gateway_token_hashes h using public.agent_instances i
  where h.instance_id = i.id and i.user_id = p_user;

  with k as (delete from public.api_keys where user_id = p_user returning 1),
       c as (delete from public.ssh_configs where user_id = p_user returning 1),
       a as (delete from public.ssh_audit_log where user_id = p_user returning 1),
       p as (update public.proxy_tokens set revoked_at = coalesce(revoked_at, now()), secret_id = null
             where user_id = p_user and (revoked_at is null or secret_id is not null) returning revoked_at),
       r as (delete from public.relay_connections where user_id = p_user returning 1),
       t as (delete from public.relay_link_tokens where user_id = p_user returning 1)
  select jsonb_build_object('vault_secrets', v_secrets, 'api_keys', (select count(*) from k),
                            'ssh_configs', (select count(*) from c), 'ssh_audit_rows', (select count(*) from a),
                            'proxy_tokens_revoked', (select count(*) from p),
                            'relay_connections', (select count(*) from r), 'relay_link_tokens', (select count(*) from t))
  into v_out;

  -- What the person wrote or was told: gone or blanked (turns and usage keep their numbers).
  delete from public.notifications where user_id = p_user;
  delete from public.projects where owner_id = p_user;  -- teams and team membership follow
  delete from public.agent_reviews where user_id = p_user;  -- listing stats are recounted by trigger
  update public.messages set content = '', tool_events = '[]'::jsonb
  where user_id = p_user and (content <> '' or tool_events <> '[]'::jsonb);
  update public.sessions set title = '' where user_id = p_user and title <> '';
  -- A creator's listings leave the marketplace; existing hires keep their versions.
  update public.agents set status = 'archived' where creator_id = p_user and status <> 'archived';

  update public.profiles
  set display_name = 'Deleted user', avatar_url = null, default_model = null, deleted_at = now()
  where id = p_user;
  update auth.users
  set email = 'deleted-' || p_user::text || '@deleted.invalid', encrypted_password = null,
      raw_user_meta_data = '{}'::jsonb, deleted_at = now(), updated_at = now()
  where id = p_user;
  -- On Supabase the identity provider's records and sign-in sessions hold personal data too.
  if exists (select 1 from information_schema.columns
             where table_schema = 'auth' and table_name = 'users' and column_name = 'phone') then
    execute 'update auth.users set phone = null where id = $1' using p_user;
  end if;
  if to_regclass('auth.identities') is not null then
    execute 'delete from auth.identities where user_id = $1' using p_user;
  end if;
  if to_regclass('auth.sessions') is not null then
    execute 'delete from auth.sessions where user_id = $1' using p_user;
  end if;
  if to_regclass('auth.refresh_tokens') is not null then
    execute 'delete from auth.refresh_tokens where user_id = $1::text' using p_user;
  end if;
  return v_out;
end $$;
revoke all on function private.erase_account(uuid) from public, anon, authenticated;
grant execute on function private.erase_account(uuid) to service_role;
