-- Demo data for `openagents db seed` (idempotent: run it as often as you like), in three steps
-- (shared/data/migrate.py seed): this file (people, projects, teams), then the demo agents, published
-- from real bundles by the creator pipeline (shared/platform/seed.py), then supabase/seed/listings.sql
-- (reviews and collections of those agents). Agents never come from SQL: each one is a signed bundle,
-- so a hire gets real files on its machine.
-- Sign in as any of these emails with `POST /api/dev/sign-in {"email": …}` in dev mode.

insert into auth.users (id, email, email_confirmed_at, raw_user_meta_data) values
  ('00000000-0000-4000-8000-00000000c001', 'ada@creators.openagents.dev', now(), '{"display_name":"Ada Labs"}'),
  ('00000000-0000-4000-8000-00000000c002', 'grace@creators.openagents.dev', now(), '{"display_name":"Grace Works"}'),
  ('00000000-0000-4000-8000-00000000c003', 'linus@creators.openagents.dev', now(), '{"display_name":"Linus & Co"}'),
  ('00000000-0000-4000-8000-00000000c004', 'margaret@creators.openagents.dev', now(), '{"display_name":"Hamilton AI"}'),
  ('00000000-0000-4000-8000-00000000d001', 'demo@openagents.dev', now(), '{"display_name":"Demo User"}'),
  ('00000000-0000-4000-8000-00000000d002', 'sam@openagents.dev', now(), '{"display_name":"Sam Rivera"}'),
  ('00000000-0000-4000-8000-00000000d003', 'kim@openagents.dev', now(), '{"display_name":"Kim Park"}'),
  ('00000000-0000-4000-8000-00000000d004', 'lee@openagents.dev', now(), '{"display_name":"Lee Chen"}'),
  ('00000000-0000-4000-8000-00000000a001', 'admin@openagents.dev', now(), '{"display_name":"Admin"}')
on conflict (id) do nothing;

update public.profiles set role = 'creator' where id in (
  '00000000-0000-4000-8000-00000000c001', '00000000-0000-4000-8000-00000000c002',
  '00000000-0000-4000-8000-00000000c003', '00000000-0000-4000-8000-00000000c004');
update public.profiles set role = 'admin' where id = '00000000-0000-4000-8000-00000000a001';

insert into public.projects (id, owner_id, name, description) values
  ('00000000-0000-4000-8000-00000000f001', '00000000-0000-4000-8000-00000000d001', 'Side business', 'Everything for the shop'),
  ('00000000-0000-4000-8000-00000000f002', '00000000-0000-4000-8000-00000000d001', 'Personal', 'Life admin'),
  ('00000000-0000-4000-8000-00000000f003', '00000000-0000-4000-8000-00000000d002', 'Research', 'Thesis work')
on conflict (id) do nothing;
insert into public.teams (id, project_id, owner_id, name) values
  ('00000000-0000-4000-8000-00000000f101', '00000000-0000-4000-8000-00000000f001', '00000000-0000-4000-8000-00000000d001', 'Support'),
  ('00000000-0000-4000-8000-00000000f102', '00000000-0000-4000-8000-00000000f001', '00000000-0000-4000-8000-00000000d001', 'Marketing'),
  ('00000000-0000-4000-8000-00000000f103', '00000000-0000-4000-8000-00000000f003', '00000000-0000-4000-8000-00000000d002', 'Reading group')
on conflict (id) do nothing;
