-- Creator platform (issue 10): bundle drafts, the review queue with appeals, the public facts of signed
-- skills, signing-key rotation and the admin action that makes a user a creator.
--
-- Everything here is written by the platform's server paths as service_role (shared/platform); clients
-- read their own rows through RLS. Supabase's default privileges grant new tables to anon and
-- authenticated, so each new table starts from nothing for them.

-- Versions: when a version was handed in (the review queue is oldest first). ------------------------
alter table public.agent_versions add column if not exists submitted_at timestamptz;
create index if not exists agent_versions_review_queue_idx on public.agent_versions (submitted_at, id)
  where status = 'review';
create index if not exists agent_versions_agent_idx on public.agent_versions (agent_id, created_at desc, id);

-- Review decisions: the scan's (`flagged`, decided_by null) and admins' (`approved` | `rejected`).
-- A creator may appeal each decision once: the unique decision_id of review_appeals is that rule.
create table public.review_decisions (
  id uuid primary key default gen_random_uuid(),
  version_id uuid not null references public.agent_versions (id) on delete cascade,
  creator_id uuid not null references public.profiles (id),
  decision text not null check (decision in ('flagged', 'approved', 'rejected')),
  reason text not null default '' check (char_length(reason) <= 2000),
  decided_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now()
);
create index review_decisions_version_idx on public.review_decisions (version_id, created_at desc, id);
create index review_decisions_creator_idx on public.review_decisions (creator_id);
create index review_decisions_decided_by_idx on public.review_decisions (decided_by);

create table public.review_appeals (
  id uuid primary key default gen_random_uuid(),
  decision_id uuid not null unique references public.review_decisions (id) on delete cascade,
  version_id uuid not null references public.agent_versions (id) on delete cascade,
  creator_id uuid not null references public.profiles (id),
  message text not null check (char_length(message) between 1 and 4000),
  created_at timestamptz not null default now()
);
create index review_appeals_version_idx on public.review_appeals (version_id);
create index review_appeals_creator_idx on public.review_appeals (creator_id);

alter table public.review_decisions enable row level security;
alter table public.review_appeals enable row level security;
revoke all on public.review_decisions, public.review_appeals from anon, authenticated;
grant all on public.review_decisions, public.review_appeals to service_role;
grant select on public.review_decisions, public.review_appeals to authenticated;
create policy review_decisions_select_own on public.review_decisions for select to authenticated
  using (creator_id = (select auth.uid()) or (select private.is_admin()));
create policy review_appeals_select_own on public.review_appeals for select to authenticated
  using (creator_id = (select auth.uid()) or (select private.is_admin()));

-- The skills of a published listing's version, with their latest signature: the §5c values anyone may
-- check against GET /api/platform/signing-keys. agent_skills/skill_signatures stay creator-only tables;
-- this helper hands out exactly the public facts, and only for a published version of a published
-- agent (or to its creator and admins).
create or replace function private.version_skills(p_version uuid)
returns table (name text, description text, permissions jsonb, content_hash text, permissions_hash text,
               signature text, key_id text)
language sql stable security definer set search_path = '' as $$
  select s.name, s.description, s.permissions, s.content_hash, s.permissions_hash, g.signature, g.key_id
  from public.agent_versions v
  join public.agents a on a.id = v.agent_id
  join public.agent_skills s on s.version_id = v.id
  left join lateral (
    select x.signature, x.key_id from public.skill_signatures x
    where x.skill_id = s.id order by x.created_at desc, x.id desc limit 1
  ) g on true
  where v.id = p_version
    and ((v.status = 'published' and a.status = 'published')
         or a.creator_id = (select auth.uid()) or (select private.is_admin()))
  order by s.name
$$;
revoke all on function private.version_skills(uuid) from public;
grant execute on function private.version_skills(uuid) to anon, authenticated, service_role;

-- Signing keys. The private key is SKILL_SIGNING_KEY (never in the database); its public half is
-- registered here the first time it signs. Registering a key that is not yet known makes it the active
-- one and retires the previous active key in one step: that is rotation (new versions are signed by the
-- new key; retired keys stay listed so old signatures keep verifying). A known key is never
-- re-activated: a retired key may have been retired because it leaked. Returns the row for the public key.
create or replace function private.rotate_signing_key(p_key_id text, p_public_key text)
returns table (key_id text, status text)
language plpgsql security definer set search_path = '' as $$
declare
  found_id text;
  found_status text;
begin
  perform pg_advisory_xact_lock(hashtextextended('openagents:signing_keys', 0));
  select k.key_id, k.status into found_id, found_status from public.signing_keys k where k.public_key = p_public_key;
  if found_id is not null then
    return query select found_id, found_status;
    return;
  end if;
  if exists (select 1 from public.signing_keys k where k.key_id = p_key_id) then
    raise exception 'signing key id % is taken by another key', p_key_id using errcode = 'unique_violation';
  end if;
  update public.signing_keys k set status = 'retired', retired_at = now() where k.status = 'active';
  insert into public.signing_keys (key_id, public_key, status) values (p_key_id, p_public_key, 'active');
  return query select p_key_id, 'active'::text;
end $$;
revoke all on function private.rotate_signing_key(text, text) from public, anon, authenticated;
grant execute on function private.rotate_signing_key(text, text) to service_role;

-- Making a user a creator in production (dev sign-in takes `role: "creator"` instead): an operator runs
--   select private.promote_creator('someone@example.com');
-- as the service role / in the SQL editor. Admins stay admins. The role is read from profiles on every
-- request (private.user_role), so the promotion takes effect at once.
create or replace function private.promote_creator(p_email text) returns uuid
language plpgsql security definer set search_path = '' as $$
declare
  uid uuid;
begin
  select u.id into uid from auth.users u where lower(u.email) = lower(trim(p_email));
  if uid is null then
    raise exception 'no user with e-mail %', p_email using errcode = 'no_data_found';
  end if;
  update public.profiles p set role = 'creator' where p.id = uid and p.role = 'user';
  return uid;
end $$;
revoke all on function private.promote_creator(text) from public, anon, authenticated;
grant execute on function private.promote_creator(text) to service_role;
