-- Local stand-in for what the Supabase platform provides, applied only where it is missing
-- (the migration runner skips this file when `auth.users` already exists, i.e. on real Supabase).
-- Definitions follow Supabase's own: roles, auth helpers, Vault's SQL interface, realtime.send.

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end $$;

grant anon, authenticated, service_role to authenticator;
-- The login role our server uses (the migration owner) may switch to each API role, like Supabase's `postgres`.
do $$ begin execute format('grant anon, authenticated, service_role to %I', current_user); end $$;

create schema if not exists extensions;
create extension if not exists pgcrypto with schema extensions;
grant usage on schema extensions to anon, authenticated, service_role;

-- auth ---------------------------------------------------------------------------------------------
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
  instance_id uuid,
  id uuid primary key default gen_random_uuid(),
  aud varchar(255) default 'authenticated',
  role varchar(255) default 'authenticated',
  email varchar(255) unique,
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  raw_app_meta_data jsonb default '{"provider":"email","providers":["email"]}'::jsonb,
  raw_user_meta_data jsonb default '{}'::jsonb,
  is_anonymous boolean not null default false,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  deleted_at timestamptz
);
-- Locally the dev sign-in (service role) plays the part of Supabase Auth's admin API.
grant select, insert, update, delete on auth.users to service_role;

create or replace function auth.uid() returns uuid language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role() returns text language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create or replace function auth.email() returns text language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

create or replace function auth.jwt() returns jsonb language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt() to anon, authenticated, service_role;

-- vault --------------------------------------------------------------------------------------------
-- Same SQL interface as supabase_vault (create_secret, update_secret, decrypted_secrets); the
-- ciphertext is pgcrypto's symmetric encryption under a key that only the owner can read.
create schema if not exists vault;

create table if not exists vault._key (
  id boolean primary key default true check (id),
  key text not null default encode(extensions.gen_random_bytes(32), 'base64')
);
insert into vault._key default values on conflict do nothing;
revoke all on vault._key from public;

create table if not exists vault.secrets (
  id uuid primary key default gen_random_uuid(),
  name text,
  description text not null default '',
  secret text not null,
  key_id uuid,
  nonce bytea,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index if not exists secrets_name_idx on vault.secrets (name) where name is not null;
revoke all on vault.secrets from public;

create or replace function vault._encrypt(plain text) returns text
language sql security definer set search_path = '' as $$
  select encode(extensions.pgp_sym_encrypt(plain, (select key from vault._key)), 'base64')
$$;

create or replace function vault._decrypt(cipher text) returns text
language sql stable security definer set search_path = '' as $$
  select extensions.pgp_sym_decrypt(decode(cipher, 'base64'), (select key from vault._key))
$$;

create or replace function vault.create_secret(
  new_secret text, new_name text default null, new_description text default '', new_key_id uuid default null
) returns uuid language plpgsql security definer set search_path = '' as $$
declare rec record;
begin
  insert into vault.secrets (secret, name, description, key_id)
  values (vault._encrypt(new_secret), new_name, coalesce(new_description, ''), new_key_id)
  returning * into rec;
  return rec.id;
end $$;

create or replace function vault.update_secret(
  secret_id uuid, new_secret text default null, new_name text default null,
  new_description text default null, new_key_id uuid default null
) returns void language plpgsql security definer set search_path = '' as $$
begin
  update vault.secrets s set
    secret = case when new_secret is null then s.secret else vault._encrypt(new_secret) end,
    name = coalesce(new_name, s.name),
    description = coalesce(new_description, s.description),
    key_id = coalesce(new_key_id, s.key_id),
    updated_at = now()
  where s.id = secret_id;
end $$;

create or replace view vault.decrypted_secrets as
  select s.id, s.name, s.description, s.secret, vault._decrypt(s.secret) as decrypted_secret,
         s.key_id, s.nonce, s.created_at, s.updated_at
  from vault.secrets s;

revoke all on all functions in schema vault from public;
revoke all on vault.decrypted_secrets from public;
grant usage on schema vault to service_role;
grant execute on function vault.create_secret(text, text, text, uuid), vault.update_secret(uuid, text, text, text, uuid) to service_role;
grant select on vault.decrypted_secrets to service_role;
-- A view's functions run with the caller's rights: service_role reads decrypted_secrets on Supabase,
-- so it must be able to run the decryption behind the view here too.
grant execute on function vault._decrypt(text) to service_role;
grant select, delete on vault.secrets to service_role;  -- as Supabase grants it (a delete by id reads the id)

-- realtime -----------------------------------------------------------------------------------------
-- realtime.send stores the broadcast and, locally, delivers it with pg_notify on channel `realtime`
-- (the Realtime server does the delivery on Supabase). Errors are swallowed as warnings, as upstream.
create schema if not exists realtime;
grant usage on schema realtime to anon, authenticated, service_role;

create table if not exists realtime.messages (
  id uuid not null default gen_random_uuid(),
  topic text not null,
  extension text not null default 'broadcast',
  payload jsonb,
  event text,
  private boolean default true,
  inserted_at timestamp not null default now(),
  updated_at timestamp not null default now(),
  primary key (id, inserted_at)
);
alter table realtime.messages enable row level security;
grant select, insert on realtime.messages to authenticated;
grant all on realtime.messages to service_role;

create or replace function realtime.topic() returns text language sql stable as $$
  select nullif(current_setting('realtime.topic', true), '')::text
$$;
grant execute on function realtime.topic() to anon, authenticated, service_role;

create or replace function realtime.send(payload jsonb, event text, topic text, private boolean default true)
returns void language plpgsql security definer set search_path = '' as $$
declare
  full_payload jsonb := case when payload ? 'id' then payload else payload || jsonb_build_object('id', gen_random_uuid()) end;
  message_id uuid;
begin
  begin
    insert into realtime.messages (payload, event, topic, private, extension)
    values (full_payload, event, topic, private, 'broadcast')
    returning id into message_id;
    -- pg_notify payloads are limited to 8000 bytes; larger frames are read back by message id.
    perform pg_notify('realtime', case
      when octet_length(full_payload::text) < 7000
        then jsonb_build_object('topic', topic, 'event', event, 'payload', full_payload)::text
      else jsonb_build_object('topic', topic, 'event', event, 'id', message_id)::text end);
  exception when others then
    raise warning 'ErrorSendingBroadcastMessage: %', sqlerrm;
  end;
end $$;
-- Functions are executable by PUBLIC unless revoked: only server paths broadcast (a user could
-- otherwise forge frames on another user's `session:{id}`).
revoke execute on function realtime.send(jsonb, text, text, boolean) from public, anon, authenticated;
grant execute on function realtime.send(jsonb, text, text, boolean) to service_role;

-- Default privileges Supabase grants on `public` so that RLS, not GRANTs, decides access.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges in schema public grant execute on functions to anon, authenticated, service_role;
