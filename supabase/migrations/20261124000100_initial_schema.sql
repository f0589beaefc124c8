-- OpenAgents data model (ARCHITECTURE §3). Every table in `public` has RLS on and explicit policies
-- written the way Supabase advises: `(select auth.uid())` so the function runs once per statement,
-- an index on every policy column, security-definer helpers in the unexposed `private` schema, and
-- `to <role>` on every policy. Clients get only the table/column privileges they need (defence in
-- depth); the service role (BYPASSRLS) is for jobs and trusted server paths.

create schema if not exists private;
revoke all on schema private from public;
grant usage on schema private to anon, authenticated, service_role;

-- enums ----------------------------------------------------------------------------------------------
create type public.user_role as enum ('user', 'creator', 'admin');
create type public.plan_tier as enum ('trial', 'basic', 'pro', 'power');
create type public.plan_status as enum ('active', 'past_due', 'canceled', 'expired');
create type public.agent_status as enum ('draft', 'review', 'published', 'rejected', 'archived');
create type public.pricing_model as enum ('free', 'per_session', 'per_task');
create type public.version_status as enum ('draft', 'scanning', 'review', 'published', 'rejected', 'superseded');
create type public.instance_status as enum ('provisioning', 'running', 'suspended', 'stopped', 'error', 'destroying', 'destroyed');
create type public.provision_stage as enum ('queued', 'app', 'volume', 'machine', 'starting', 'ready');
create type public.turn_status as enum ('streaming', 'done', 'error', 'interrupted');
create type public.message_role as enum ('user', 'assistant', 'system', 'tool');
create type public.relay_kind as enum ('telegram', 'whatsapp', 'slack', 'discord');
create type public.llm_provider as enum ('openai', 'anthropic', 'google', 'openrouter');

-- helpers --------------------------------------------------------------------------------------------
create or replace function private.touch_updated_at() returns trigger language plpgsql as $$
begin new.updated_at := now(); return new; end $$;

create or replace function private.tags_text(tags text[]) returns text
language sql immutable parallel safe as $$ select coalesce(array_to_string(tags, ' '), '') $$;

-- profiles -------------------------------------------------------------------------------------------
create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  display_name text not null default '' check (char_length(display_name) <= 80),
  avatar_url text check (avatar_url is null or char_length(avatar_url) <= 500),
  role public.user_role not null default 'user',
  plan public.plan_tier not null default 'trial',
  plan_status public.plan_status not null default 'active',
  plan_period_end timestamptz,
  stripe_customer_id text unique,
  stripe_subscription_id text unique,
  connect_account_id text unique,
  connect_payouts_enabled boolean not null default false,
  default_model text check (default_model is null or char_length(default_model) <= 100),
  deleted_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create trigger profiles_touch before update on public.profiles for each row execute function private.touch_updated_at();

-- The role is read from profiles (not a JWT claim) so a promotion takes effect at once.
create or replace function private.user_role() returns public.user_role
language sql stable security definer set search_path = '' as $$
  select coalesce((select p.role from public.profiles p where p.id = (select auth.uid())), 'user'::public.user_role)
$$;
create or replace function private.is_admin() returns boolean
language sql stable security definer set search_path = '' as $$
  select private.user_role() = 'admin'::public.user_role
$$;
revoke all on function private.user_role(), private.is_admin() from public;
grant execute on function private.user_role(), private.is_admin() to anon, authenticated, service_role;

-- projects → teams → team_agents, notifications --------------------------------------------------------
create table public.projects (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null references public.profiles (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 100),
  description text not null default '' check (char_length(description) <= 2000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, owner_id)
);
create index projects_owner_idx on public.projects (owner_id, created_at desc);
create trigger projects_touch before update on public.projects for each row execute function private.touch_updated_at();

create table public.teams (
  id uuid primary key default gen_random_uuid(),
  project_id uuid not null,
  owner_id uuid not null,
  name text not null check (char_length(name) between 1 and 100),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, owner_id),
  -- The composite key makes a team belong to its project's owner, with no trigger.
  foreign key (project_id, owner_id) references public.projects (id, owner_id) on delete cascade
);
create index teams_owner_idx on public.teams (owner_id);
create index teams_project_idx on public.teams (project_id);
create trigger teams_touch before update on public.teams for each row execute function private.touch_updated_at();

create table public.notifications (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  kind text not null check (char_length(kind) <= 50),
  title text not null check (char_length(title) <= 200),
  body text not null default '' check (char_length(body) <= 4000),
  data jsonb not null default '{}'::jsonb,
  read_at timestamptz,
  created_at timestamptz not null default now()
);
create index notifications_user_idx on public.notifications (user_id, created_at desc, id);

-- marketplace ---------------------------------------------------------------------------------------
create table public.agents (
  id uuid primary key default gen_random_uuid(),
  creator_id uuid not null references public.profiles (id) on delete restrict,
  slug text not null unique check (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$'),
  name text not null check (char_length(name) between 1 and 80),
  tagline text not null default '' check (char_length(tagline) <= 160),
  description text not null default '' check (char_length(description) <= 20000),
  category text not null check (category ~ '^[a-z0-9-]{1,40}$'),
  tags text[] not null default '{}' check (cardinality(tags) <= 20),
  status public.agent_status not null default 'draft',
  pricing_model public.pricing_model not null default 'free',
  credits_price integer not null default 0 check (credits_price >= 0 and credits_price <= 100000),
  memory_mb integer not null default 2048 check (memory_mb between 512 and 16384),
  relays public.relay_kind[] not null default '{}',
  models text[] not null default '{}',
  current_version_id uuid,
  hires_count integer not null default 0 check (hires_count >= 0),
  rating_avg numeric(3, 2) not null default 0 check (rating_avg between 0 and 5),
  reviews_count integer not null default 0 check (reviews_count >= 0),
  search tsvector generated always as (
    setweight(to_tsvector('english', name), 'A')
    || setweight(to_tsvector('english', tagline || ' ' || private.tags_text(tags)), 'B')
    || setweight(to_tsvector('english', category || ' ' || description), 'C')
  ) stored,
  published_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((pricing_model = 'free') = (credits_price = 0))
);
create index agents_creator_idx on public.agents (creator_id);
create index agents_search_idx on public.agents using gin (search);
create index agents_tags_idx on public.agents using gin (tags);
create index agents_published_popular_idx on public.agents (hires_count desc, id) where status = 'published';
create index agents_published_rating_idx on public.agents (rating_avg desc, id) where status = 'published';
create index agents_published_new_idx on public.agents (published_at desc, id) where status = 'published';
create index agents_category_idx on public.agents (category, hires_count desc, id) where status = 'published';
create trigger agents_touch before update on public.agents for each row execute function private.touch_updated_at();

create table public.collections (
  id uuid primary key default gen_random_uuid(),
  slug text not null unique check (slug ~ '^[a-z0-9-]{1,64}$'),
  title text not null check (char_length(title) <= 100),
  description text not null default '' check (char_length(description) <= 1000),
  featured boolean not null default false,
  position integer not null default 0,
  created_at timestamptz not null default now()
);
create table public.collection_agents (
  collection_id uuid not null references public.collections (id) on delete cascade,
  agent_id uuid not null references public.agents (id) on delete cascade,
  position integer not null default 0,
  primary key (collection_id, agent_id)
);
create index collection_agents_agent_idx on public.collection_agents (agent_id);

create table public.agent_versions (
  id uuid primary key default gen_random_uuid(),
  agent_id uuid not null references public.agents (id) on delete cascade,
  creator_id uuid not null references public.profiles (id),
  version text not null check (version ~ '^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$'),
  openclaw_version text not null,
  bundle jsonb not null default '{}'::jsonb,
  changelog text not null default '' check (char_length(changelog) <= 10000),
  scan_findings jsonb not null default '[]'::jsonb,
  status public.version_status not null default 'draft',
  review_reason text,
  created_at timestamptz not null default now(),
  published_at timestamptz,
  unique (agent_id, version)
);
create index agent_versions_creator_idx on public.agent_versions (creator_id);
alter table public.agents add constraint agents_current_version_fk
  foreign key (current_version_id) references public.agent_versions (id) on delete set null;

create table public.agent_skills (
  id uuid primary key default gen_random_uuid(),
  version_id uuid not null references public.agent_versions (id) on delete cascade,
  creator_id uuid not null references public.profiles (id),
  name text not null check (name ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  description text not null default '',
  permissions jsonb not null default '{}'::jsonb,
  content_hash text not null check (content_hash ~ '^[0-9a-f]{64}$'),
  permissions_hash text not null check (permissions_hash ~ '^[0-9a-f]{64}$'),
  created_at timestamptz not null default now(),
  unique (version_id, name)
);
create index agent_skills_creator_idx on public.agent_skills (creator_id);

create table public.signing_keys (
  key_id text primary key check (key_id ~ '^[A-Za-z0-9_-]{1,64}$'),
  public_key text not null,
  status text not null default 'active' check (status in ('active', 'retired')),
  created_at timestamptz not null default now(),
  retired_at timestamptz
);
create unique index signing_keys_one_active on public.signing_keys ((true)) where status = 'active';

create table public.skill_signatures (
  id uuid primary key default gen_random_uuid(),
  skill_id uuid not null references public.agent_skills (id) on delete cascade,
  creator_id uuid not null references public.profiles (id),
  key_id text not null references public.signing_keys (key_id),
  content_hash text not null,
  permissions_hash text not null,
  signature text not null,
  created_at timestamptz not null default now(),
  unique (skill_id, key_id)
);
create index skill_signatures_creator_idx on public.skill_signatures (creator_id);

create table public.agent_reviews (
  id uuid primary key default gen_random_uuid(),
  agent_id uuid not null references public.agents (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  rating smallint not null check (rating between 1 and 5),
  title text not null default '' check (char_length(title) <= 120),
  body text not null default '' check (char_length(body) <= 4000),
  is_public boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (agent_id, user_id)
);
create index agent_reviews_user_idx on public.agent_reviews (user_id);
create index agent_reviews_agent_idx on public.agent_reviews (agent_id, created_at desc, id) where is_public;
create trigger agent_reviews_touch before update on public.agent_reviews for each row execute function private.touch_updated_at();

-- Stats are maintained in SQL so every path (API, admin, seed) keeps them right.
create or replace function private.refresh_agent_rating() returns trigger
language plpgsql security definer set search_path = '' as $$
declare target uuid := coalesce(new.agent_id, old.agent_id);
begin
  update public.agents a set
    reviews_count = s.n, rating_avg = coalesce(round(s.avg, 2), 0)
  from (select count(*) as n, avg(rating) as avg from public.agent_reviews where agent_id = target) s
  where a.id = target;
  if tg_op = 'UPDATE' and old.agent_id is distinct from new.agent_id then
    update public.agents a set reviews_count = s.n, rating_avg = coalesce(round(s.avg, 2), 0)
    from (select count(*) as n, avg(rating) as avg from public.agent_reviews where agent_id = old.agent_id) s
    where a.id = old.agent_id;
  end if;
  return null;
end $$;
create trigger agent_reviews_stats after insert or update or delete on public.agent_reviews
  for each row execute function private.refresh_agent_rating();

-- instances ------------------------------------------------------------------------------------------
create table public.agent_instances (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  agent_id uuid not null references public.agents (id),
  version_id uuid references public.agent_versions (id),
  display_name text not null default '' check (char_length(display_name) <= 80),
  model_preference text check (model_preference is null or char_length(model_preference) <= 100),
  status public.instance_status not null default 'provisioning',
  provision_stage public.provision_stage not null default 'queued',
  fly_app text,
  fly_machine_id text,
  fly_volume_id text,
  region text,
  gateway_token_secret_id uuid,
  last_active_at timestamptz not null default now(),
  health_failures integer not null default 0 check (health_failures >= 0),
  error_message text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  destroyed_at timestamptz,
  unique (id, user_id)
);
create unique index agent_instances_one_live on public.agent_instances (user_id, agent_id) where status <> 'destroyed';
create index agent_instances_user_idx on public.agent_instances (user_id, created_at desc, id);
create index agent_instances_status_idx on public.agent_instances (status, last_active_at);
create index agent_instances_agent_idx on public.agent_instances (agent_id);
create trigger agent_instances_touch before update on public.agent_instances for each row execute function private.touch_updated_at();

create table public.team_agents (
  team_id uuid not null,
  instance_id uuid not null,
  owner_id uuid not null,
  added_at timestamptz not null default now(),
  primary key (team_id, instance_id),
  foreign key (team_id, owner_id) references public.teams (id, owner_id) on delete cascade,
  foreign key (instance_id, owner_id) references public.agent_instances (id, user_id) on delete cascade
);
create index team_agents_owner_idx on public.team_agents (owner_id);
create index team_agents_instance_idx on public.team_agents (instance_id);

-- chat -----------------------------------------------------------------------------------------------
create table public.sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  instance_id uuid not null,
  title text not null default '' check (char_length(title) <= 200),
  channel text not null default 'web' check (channel in ('web', 'telegram', 'whatsapp', 'slack', 'discord')),
  created_at timestamptz not null default now(),
  last_message_at timestamptz not null default now(),
  unique (id, user_id),
  foreign key (instance_id, user_id) references public.agent_instances (id, user_id) on delete cascade
);
create index sessions_user_idx on public.sessions (user_id);
create index sessions_instance_idx on public.sessions (instance_id, last_message_at desc, id);

create table public.turns (
  id uuid primary key default gen_random_uuid(),
  session_id uuid not null,
  user_id uuid not null,
  instance_id uuid not null,
  client_message_id text not null check (char_length(client_message_id) between 1 and 100),
  user_message_id uuid,
  assistant_message_id uuid,
  status public.turn_status not null default 'streaming',
  last_seq integer not null default 0,
  error jsonb,
  created_at timestamptz not null default now(),
  finished_at timestamptz,
  settled_at timestamptz,
  unique (user_id, client_message_id),
  foreign key (session_id, user_id) references public.sessions (id, user_id) on delete cascade
);
create index turns_session_idx on public.turns (session_id, created_at, user_id);
create index turns_user_message_idx on public.turns (user_message_id);
create index turns_assistant_message_idx on public.turns (assistant_message_id);
create index turns_unsettled_idx on public.turns (created_at) where settled_at is null;

create table public.messages (
  id uuid primary key default gen_random_uuid(),
  session_id uuid not null,
  user_id uuid not null,
  turn_id uuid references public.turns (id) on delete set null,
  role public.message_role not null,
  content text not null default '' check (char_length(content) <= 200000),
  tool_events jsonb not null default '[]'::jsonb,
  input_tokens integer not null default 0 check (input_tokens >= 0),
  output_tokens integer not null default 0 check (output_tokens >= 0),
  -- clock_timestamp: a turn writes its user and assistant messages in one transaction, and history
  -- is ordered by time.
  created_at timestamptz not null default clock_timestamp(),
  foreign key (session_id, user_id) references public.sessions (id, user_id) on delete cascade
);
-- user_id trails the session key so the owner policy is checked inside the one ordered index scan
-- (a separate user_id index made the planner bitmap-AND both and sort: 4-5x the policy cost).
create index messages_session_idx on public.messages (session_id, created_at, id, user_id);
create index messages_turn_idx on public.messages (turn_id);
alter table public.turns add constraint turns_user_message_fk foreign key (user_message_id) references public.messages (id) on delete set null;
alter table public.turns add constraint turns_assistant_message_fk foreign key (assistant_message_id) references public.messages (id) on delete set null;

create table public.turn_events (
  turn_id uuid not null references public.turns (id) on delete cascade,
  seq integer not null check (seq >= 1),
  user_id uuid not null,
  event text not null check (event in ('session', 'status', 'token', 'tool', 'done', 'error')),
  data jsonb not null,
  created_at timestamptz not null default now(),
  primary key (turn_id, seq)
);
create index turn_events_replay_idx on public.turn_events (turn_id, seq, user_id);

-- credits and billing --------------------------------------------------------------------------------
create table public.credit_balances (
  user_id uuid primary key references public.profiles (id) on delete cascade,
  subscription_credits integer not null default 0 check (subscription_credits >= 0),
  subscription_expires_at timestamptz,
  topup_credits integer not null default 0 check (topup_credits >= 0),
  updated_at timestamptz not null default now()
);

create table public.credit_transactions (
  id bigint generated always as identity primary key,
  user_id uuid not null references public.profiles (id) on delete cascade,
  kind text not null check (kind in ('trial', 'subscription_grant', 'subscription_expiry', 'topup', 'debit',
                                     'refund_clawback', 'adjustment')),
  subscription_delta integer not null default 0,
  topup_delta integer not null default 0,
  shortfall integer not null default 0 check (shortfall >= 0),
  idempotency_key text not null unique check (char_length(idempotency_key) <= 255),
  turn_id uuid,
  reference jsonb not null default '{}'::jsonb,
  subscription_after integer not null check (subscription_after >= 0),
  topup_after integer not null check (topup_after >= 0),
  created_at timestamptz not null default now()
);
create index credit_transactions_user_idx on public.credit_transactions (user_id, id desc);

-- Append-only: no UPDATE, and no direct DELETE. Deleting the account cascades here through the
-- foreign key (an RI trigger, so the trigger depth is > 1); that is the one way rows may go.
create or replace function private.forbid_change() returns trigger language plpgsql as $$
begin
  if tg_op = 'DELETE' and pg_trigger_depth() > 1 then
    return old;
  end if;
  raise exception '% is append-only', tg_table_name using errcode = 'restrict_violation';
end $$;
create trigger credit_transactions_append_only before update or delete on public.credit_transactions
  for each row execute function private.forbid_change();

create table public.usage_events (
  id bigint generated always as identity primary key,
  user_id uuid not null references public.profiles (id) on delete cascade,
  instance_id uuid references public.agent_instances (id) on delete set null,
  agent_id uuid references public.agents (id) on delete set null,
  turn_id uuid,
  source_request_id text not null unique check (char_length(source_request_id) <= 255),
  model text not null default '',
  input_tokens integer not null default 0 check (input_tokens >= 0),
  output_tokens integer not null default 0 check (output_tokens >= 0),
  compute_seconds numeric(12, 3) not null default 0 check (compute_seconds >= 0),
  created_at timestamptz not null default now()
);
create index usage_events_user_idx on public.usage_events (user_id, created_at);
create index usage_events_turn_idx on public.usage_events (turn_id);
create index usage_events_created_idx on public.usage_events (created_at);
create index usage_events_instance_idx on public.usage_events (instance_id);
create index usage_events_agent_idx on public.usage_events (agent_id);

create table public.creator_earnings (
  id bigint generated always as identity primary key,
  creator_id uuid not null references public.profiles (id),
  agent_id uuid not null references public.agents (id),
  payer_id uuid references public.profiles (id) on delete set null,
  turn_id uuid not null unique,
  credits integer not null check (credits >= 0),
  payout_id uuid,
  created_at timestamptz not null default now()
);
create index creator_earnings_creator_idx on public.creator_earnings (creator_id, created_at desc);
create index creator_earnings_unpaid_idx on public.creator_earnings (creator_id) where payout_id is null;
create index creator_earnings_agent_idx on public.creator_earnings (agent_id);
create index creator_earnings_payer_idx on public.creator_earnings (payer_id);
create index creator_earnings_payout_idx on public.creator_earnings (payout_id);

create table public.payouts (
  id uuid primary key default gen_random_uuid(),
  creator_id uuid not null references public.profiles (id),
  period text not null check (period ~ '^[0-9]{4}-[0-9]{2}$'),
  credits integer not null check (credits > 0),
  amount_cents integer not null check (amount_cents > 0),
  idempotency_key text not null unique,
  stripe_transfer_id text unique,
  status text not null default 'pending' check (status in ('pending', 'paid', 'failed')),
  created_at timestamptz not null default now(),
  paid_at timestamptz,
  unique (creator_id, period)
);
create index payouts_creator_idx on public.payouts (creator_id, created_at desc);
alter table public.creator_earnings add constraint creator_earnings_payout_fk foreign key (payout_id) references public.payouts (id);

create table public.meter_reports (
  id bigint generated always as identity primary key,
  user_id uuid not null references public.profiles (id) on delete cascade,
  period_start timestamptz not null,
  value integer not null check (value >= 0),
  identifier text not null unique,
  reported_at timestamptz,
  created_at timestamptz not null default now(),
  unique (user_id, period_start)
);

create table public.stripe_events (
  id text primary key check (id ~ '^evt_'),
  type text not null,
  created timestamptz not null,
  payload jsonb not null,
  received_at timestamptz not null default now(),
  processed_at timestamptz
);

-- relays ---------------------------------------------------------------------------------------------
create table public.relay_connections (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  instance_id uuid not null,
  relay public.relay_kind not null,
  external_user_id text not null,
  external_chat_id text not null,
  created_at timestamptz not null default now(),
  unique (relay, external_user_id),
  foreign key (instance_id, user_id) references public.agent_instances (id, user_id) on delete cascade
);
create index relay_connections_user_idx on public.relay_connections (user_id);
create index relay_connections_instance_idx on public.relay_connections (instance_id);

create table public.relay_link_tokens (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  instance_id uuid not null,
  relay public.relay_kind not null,
  token_hash text not null unique,
  expires_at timestamptz not null,
  used_at timestamptz,
  created_at timestamptz not null default now(),
  foreign key (instance_id, user_id) references public.agent_instances (id, user_id) on delete cascade
);
create index relay_link_tokens_user_idx on public.relay_link_tokens (user_id);

create table public.relay_inbox (
  id bigint generated always as identity primary key,
  relay public.relay_kind not null,
  platform_id text not null,
  payload jsonb not null,
  status text not null default 'queued' check (status in ('queued', 'processing', 'done', 'failed', 'ignored')),
  error text,
  received_at timestamptz not null default now(),
  processed_at timestamptz,
  unique (relay, platform_id)
);

create table public.relay_outbox (
  id bigint generated always as identity primary key,
  relay public.relay_kind not null,
  idempotency_key text not null unique,
  chat_id text not null,
  payload jsonb not null,
  status text not null default 'pending' check (status in ('pending', 'sent', 'failed')),
  attempts integer not null default 0,
  sent_at timestamptz,
  created_at timestamptz not null default now()
);

-- keys and access ------------------------------------------------------------------------------------
create table public.api_keys (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  provider public.llm_provider not null,
  secret_id uuid not null,
  last_four text not null check (char_length(last_four) <= 4),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (user_id, provider)
);

create table public.proxy_tokens (
  id uuid primary key default gen_random_uuid(),
  instance_id uuid not null,
  user_id uuid not null,
  token_hash text not null unique,
  caps jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  revoked_at timestamptz,
  foreign key (instance_id, user_id) references public.agent_instances (id, user_id) on delete cascade
);
create index proxy_tokens_user_idx on public.proxy_tokens (user_id);
create index proxy_tokens_instance_idx on public.proxy_tokens (instance_id);

create table public.ssh_configs (
  instance_id uuid primary key,
  user_id uuid not null,
  secret_id uuid not null,
  allow text[] not null default '{}',
  deny text[] not null default '{}',
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (instance_id, user_id) references public.agent_instances (id, user_id) on delete cascade
);
create index ssh_configs_user_idx on public.ssh_configs (user_id);

create table public.ssh_audit_log (
  id bigint generated always as identity primary key,
  instance_id uuid not null,
  user_id uuid not null references public.profiles (id) on delete cascade,
  command text not null,
  allowed boolean not null,
  exit_code integer,
  created_at timestamptz not null default now()
);
create index ssh_audit_log_user_idx on public.ssh_audit_log (user_id, instance_id, created_at desc);

create table public.audit_log (
  id bigint generated always as identity primary key,
  actor_id uuid references public.profiles (id) on delete set null,
  action text not null,
  target text,
  data jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);
create index audit_log_actor_idx on public.audit_log (actor_id, created_at desc);

create table public.rate_limits (
  key text not null,
  window_start timestamptz not null,
  count integer not null default 0,
  primary key (key, window_start)
);

create table public.warm_pool (
  id uuid primary key default gen_random_uuid(),
  fly_app text not null unique,
  fly_machine_id text,
  fly_volume_id text,
  region text not null,
  status text not null default 'creating' check (status in ('creating', 'ready', 'claimed', 'failed')),
  instance_id uuid references public.agent_instances (id) on delete set null,
  created_at timestamptz not null default now(),
  claimed_at timestamptz
);
create index warm_pool_ready_idx on public.warm_pool (region, created_at) where status = 'ready';
create index warm_pool_instance_idx on public.warm_pool (instance_id);

-- sign-up: profile + 50-credit, 7-day trial (ARCHITECTURE §5b) -------------------------------------
create or replace function private.handle_new_user() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  insert into public.profiles (id, display_name)
  values (new.id, left(coalesce(new.raw_user_meta_data ->> 'display_name', split_part(new.email, '@', 1), ''), 80))
  on conflict (id) do nothing;
  insert into public.credit_balances (user_id, subscription_credits, subscription_expires_at)
  values (new.id, 50, now() + interval '7 days')
  on conflict (user_id) do nothing;
  insert into public.credit_transactions (user_id, kind, subscription_delta, idempotency_key,
                                          subscription_after, topup_after, reference)
  values (new.id, 'trial', 50, 'trial:' || new.id, 50, 0, jsonb_build_object('expires_days', 7))
  on conflict (idempotency_key) do nothing;
  return new;
end $$;
create trigger on_auth_user_created after insert on auth.users
  for each row execute function private.handle_new_user();
