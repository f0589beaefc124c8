-- Row level security for every table in `public`, plus the privileges clients get.
-- PostgREST exposes `public` to browsers, so whatever a grant + policy allows a user can do directly:
-- clients may write only what is harmless (their profile, projects, reviews); money, chat history and
-- lifecycle state are written by trusted server paths as service_role.

-- Start from nothing for the API roles, then grant what each table needs.
revoke all on all tables in schema public from anon, authenticated;
grant all on all tables in schema public to service_role;
grant usage, select on all sequences in schema public to service_role;

do $$
declare t text;
begin
  for t in select tablename from pg_tables where schemaname = 'public' loop
    execute format('alter table public.%I enable row level security', t);
  end loop;
end $$;

-- profiles
grant select on public.profiles to authenticated;
grant update (display_name, avatar_url, default_model) on public.profiles to authenticated;
create policy profiles_select_own on public.profiles for select to authenticated
  using (id = (select auth.uid()) or (select private.is_admin()));
create policy profiles_update_own on public.profiles for update to authenticated
  using (id = (select auth.uid())) with check (id = (select auth.uid()));

-- Creators' public names for listings, without exposing profiles rows.
create or replace function private.creator_name(creator uuid) returns text
language sql stable security definer set search_path = '' as $$
  select p.display_name from public.profiles p where p.id = creator
$$;
revoke all on function private.creator_name(uuid) from public;
grant execute on function private.creator_name(uuid) to anon, authenticated, service_role;

-- projects, teams, team_agents: owner only
grant select, insert, update, delete on public.projects, public.teams to authenticated;
grant select, insert, delete on public.team_agents to authenticated;
create policy projects_owner on public.projects for all to authenticated
  using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy teams_owner on public.teams for all to authenticated
  using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy team_agents_owner on public.team_agents for all to authenticated
  using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));

-- notifications: read own, mark read
grant select on public.notifications to authenticated;
grant update (read_at) on public.notifications to authenticated;
create policy notifications_select_own on public.notifications for select to authenticated
  using (user_id = (select auth.uid()));
create policy notifications_update_own on public.notifications for update to authenticated
  using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));

-- agents: public reads published listings; creators own their drafts
grant select on public.agents to anon, authenticated;
grant insert (creator_id, slug, name, tagline, description, category, tags, pricing_model, credits_price,
              memory_mb, relays, models) on public.agents to authenticated;
grant update (name, tagline, description, category, tags, pricing_model, credits_price, memory_mb, relays, models)
  on public.agents to authenticated;
grant delete on public.agents to authenticated;
create policy agents_select_published on public.agents for select to anon, authenticated
  using (status = 'published');
create policy agents_select_own on public.agents for select to authenticated
  using (creator_id = (select auth.uid()) or (select private.is_admin()));
create policy agents_insert_creator on public.agents for insert to authenticated
  with check (creator_id = (select auth.uid()) and status = 'draft'
              and (select private.user_role()) in ('creator', 'admin'));
create policy agents_update_own on public.agents for update to authenticated
  using (creator_id = (select auth.uid())) with check (creator_id = (select auth.uid()));
create policy agents_delete_own_draft on public.agents for delete to authenticated
  using (creator_id = (select auth.uid()) and status = 'draft');

-- collections: public read
grant select on public.collections, public.collection_agents to anon, authenticated;
create policy collections_select on public.collections for select to anon, authenticated using (true);
create policy collection_agents_select on public.collection_agents for select to anon, authenticated
  using (exists (select 1 from public.agents a where a.id = agent_id and a.status = 'published'));

-- versions, skills, signatures: the creator (and admins) read; written by the publish pipeline
grant select on public.agent_versions, public.agent_skills, public.skill_signatures to authenticated;
-- A published version's public facts (number, changelog, OpenClaw version) show on the listing; the
-- bundle and scan findings stay with the creator.
grant select (id, agent_id, version, openclaw_version, changelog, status, created_at, published_at)
  on public.agent_versions to anon;
create policy agent_versions_select_published on public.agent_versions for select to anon, authenticated
  using (status = 'published' and exists (select 1 from public.agents a where a.id = agent_id and a.status = 'published'));
create policy agent_versions_select_own on public.agent_versions for select to authenticated
  using (creator_id = (select auth.uid()) or (select private.is_admin()));
create policy agent_skills_select_own on public.agent_skills for select to authenticated
  using (creator_id = (select auth.uid()) or (select private.is_admin()));
create policy skill_signatures_select_own on public.skill_signatures for select to authenticated
  using (creator_id = (select auth.uid()) or (select private.is_admin()));

-- signing keys are public by design (machines and anyone may verify)
grant select on public.signing_keys to anon, authenticated;
create policy signing_keys_select on public.signing_keys for select to anon, authenticated using (true);

-- reviews: public ones on published agents are public; authors manage their own
grant select on public.agent_reviews to anon, authenticated;
grant insert (agent_id, user_id, rating, title, body, is_public) on public.agent_reviews to authenticated;
grant update (rating, title, body, is_public) on public.agent_reviews to authenticated;
grant delete on public.agent_reviews to authenticated;
create policy agent_reviews_select_public on public.agent_reviews for select to anon, authenticated
  using (is_public and exists (select 1 from public.agents a where a.id = agent_id and a.status = 'published'));
create policy agent_reviews_select_own on public.agent_reviews for select to authenticated
  using (user_id = (select auth.uid()));
create policy agent_reviews_insert_own on public.agent_reviews for insert to authenticated
  with check (user_id = (select auth.uid())
              and exists (select 1 from public.agents a where a.id = agent_id and a.status = 'published'));
create policy agent_reviews_update_own on public.agent_reviews for update to authenticated
  using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
create policy agent_reviews_delete_own on public.agent_reviews for delete to authenticated
  using (user_id = (select auth.uid()));

-- instances: owners read and rename; lifecycle is the server's
grant select on public.agent_instances to authenticated;
grant update (display_name, model_preference) on public.agent_instances to authenticated;
create policy agent_instances_select_own on public.agent_instances for select to authenticated
  using (user_id = (select auth.uid()));
create policy agent_instances_update_own on public.agent_instances for update to authenticated
  using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));

-- owner-read-only tables (written by trusted server paths)
grant select on public.sessions, public.messages, public.turns, public.turn_events,
  public.credit_balances, public.credit_transactions, public.usage_events, public.meter_reports,
  public.relay_connections, public.relay_link_tokens, public.ssh_audit_log to authenticated;
create policy sessions_select_own on public.sessions for select to authenticated using (user_id = (select auth.uid()));
create policy messages_select_own on public.messages for select to authenticated using (user_id = (select auth.uid()));
create policy turns_select_own on public.turns for select to authenticated using (user_id = (select auth.uid()));
create policy turn_events_select_own on public.turn_events for select to authenticated using (user_id = (select auth.uid()));
create policy credit_balances_select_own on public.credit_balances for select to authenticated using (user_id = (select auth.uid()));
create policy credit_transactions_select_own on public.credit_transactions for select to authenticated using (user_id = (select auth.uid()));
create policy usage_events_select_own on public.usage_events for select to authenticated using (user_id = (select auth.uid()));
create policy meter_reports_select_own on public.meter_reports for select to authenticated using (user_id = (select auth.uid()));
create policy relay_link_tokens_select_own on public.relay_link_tokens for select to authenticated using (user_id = (select auth.uid()));
create policy ssh_audit_log_select_own on public.ssh_audit_log for select to authenticated using (user_id = (select auth.uid()));
grant delete on public.relay_connections to authenticated;
create policy relay_connections_select_own on public.relay_connections for select to authenticated using (user_id = (select auth.uid()));
create policy relay_connections_delete_own on public.relay_connections for delete to authenticated using (user_id = (select auth.uid()));

-- creators read their own earnings and payouts
grant select on public.creator_earnings, public.payouts to authenticated;
create policy creator_earnings_select_own on public.creator_earnings for select to authenticated using (creator_id = (select auth.uid()));
create policy payouts_select_own on public.payouts for select to authenticated using (creator_id = (select auth.uid()));

-- secrets' metadata: owners see which keys exist (never the Vault id)
grant select (id, user_id, provider, last_four, created_at, updated_at) on public.api_keys to authenticated;
create policy api_keys_select_own on public.api_keys for select to authenticated using (user_id = (select auth.uid()));
grant select (instance_id, user_id, allow, deny, enabled, created_at, updated_at) on public.ssh_configs to authenticated;
create policy ssh_configs_select_own on public.ssh_configs for select to authenticated using (user_id = (select auth.uid()));
grant select (id, instance_id, user_id, caps, created_at, revoked_at) on public.proxy_tokens to authenticated;
create policy proxy_tokens_select_own on public.proxy_tokens for select to authenticated using (user_id = (select auth.uid()));

-- audit log: the actor and admins
grant select on public.audit_log to authenticated;
create policy audit_log_select on public.audit_log for select to authenticated
  using (actor_id = (select auth.uid()) or (select private.is_admin()));

-- internal machinery: no client access at all; the explicit policy documents who may touch it
create policy relay_inbox_service on public.relay_inbox for all to service_role using (true) with check (true);
create policy relay_outbox_service on public.relay_outbox for all to service_role using (true) with check (true);
create policy stripe_events_service on public.stripe_events for all to service_role using (true) with check (true);
create policy rate_limits_service on public.rate_limits for all to service_role using (true) with check (true);
create policy warm_pool_service on public.warm_pool for all to service_role using (true) with check (true);

-- Realtime: only a session's owner may join `session:{id}` (private channels).
create policy realtime_session_owner on realtime.messages for select to authenticated
  using (
    realtime.messages.extension = 'broadcast'
    and (select realtime.topic()) like 'session:%'
    and exists (
      select 1 from public.sessions s
      where s.user_id = (select auth.uid())
        and 'session:' || s.id::text = (select realtime.topic())
    )
  );
