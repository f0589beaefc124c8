-- Demo data for `openagents db seed` (idempotent: run it as often as you like).
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

insert into public.agents (id, creator_id, slug, name, tagline, description, category, tags, status,
                           pricing_model, credits_price, relays, models, hires_count, published_at)
select ('00000000-0000-4000-8000-0000000a' || lpad(n::text, 4, '0'))::uuid, creator::uuid, slug, name, tagline,
       description, category, tags, 'published', pricing::public.pricing_model, price,
       relays::public.relay_kind[], array['anthropic/claude-sonnet-4', 'openai/gpt-5-mini'], hires,
       now() - make_interval(days => n)
from (values
  (1, '00000000-0000-4000-8000-00000000c001', 'inbox-zero', 'Inbox Zero', 'Triage, draft and archive your email every morning',
   E'# Inbox Zero\nReads your inbox digest, drafts replies in your tone and files the rest.', 'productivity',
   array['email', 'triage', 'drafting'], 'per_task', 2, array['telegram', 'slack'], 412),
  (2, '00000000-0000-4000-8000-00000000c001', 'meeting-scribe', 'Meeting Scribe', 'Turns meeting notes into decisions and action items',
   E'# Meeting Scribe\nPaste a transcript; get decisions, owners and deadlines.', 'productivity',
   array['meetings', 'notes', 'summaries'], 'per_session', 5, array['slack'], 288),
  (3, '00000000-0000-4000-8000-00000000c001', 'daily-planner', 'Daily Planner', 'Plans your day around deep work',
   E'# Daily Planner\nBalances meetings, focus blocks and errands.', 'productivity',
   array['planning', 'calendar'], 'free', 0, array['telegram', 'whatsapp'], 903),
  (4, '00000000-0000-4000-8000-00000000c002', 'paper-digest', 'Paper Digest', 'Summarises research papers with citations',
   E'# Paper Digest\nReads arXiv papers and explains them at the level you ask for.', 'research',
   array['papers', 'science', 'summaries'], 'per_task', 3, array['telegram'], 156),
  (5, '00000000-0000-4000-8000-00000000c002', 'market-scout', 'Market Scout', 'Competitive research on any market in minutes',
   E'# Market Scout\nBuilds a landscape of competitors, pricing and positioning.', 'research',
   array['market', 'competitors', 'strategy'], 'per_session', 10, array['slack', 'discord'], 97),
  (6, '00000000-0000-4000-8000-00000000c002', 'fact-checker', 'Fact Checker', 'Checks claims against reliable sources',
   E'# Fact Checker\nFlags unsupported claims and suggests sources.', 'research',
   array['facts', 'verification'], 'free', 0, array['telegram', 'discord'], 510),
  (7, '00000000-0000-4000-8000-00000000c003', 'code-reviewer', 'Code Reviewer', 'Thorough, kind reviews of your pull requests',
   E'# Code Reviewer\nPoints out bugs, risky changes and missing tests.', 'coding',
   array['code', 'review', 'github'], 'per_task', 4, array['slack', 'discord'], 734),
  (8, '00000000-0000-4000-8000-00000000c003', 'sql-helper', 'SQL Helper', 'Writes and explains SQL for Postgres',
   E'# SQL Helper\nFrom question to query, with EXPLAIN advice.', 'coding',
   array['sql', 'postgres', 'data'], 'free', 0, array['slack'], 621),
  (9, '00000000-0000-4000-8000-00000000c003', 'bug-hunter', 'Bug Hunter', 'Reproduces and narrows down bugs from reports',
   E'# Bug Hunter\nTurns a vague report into a minimal reproduction.', 'coding',
   array['debugging', 'testing'], 'per_session', 6, array['discord'], 203),
  (10, '00000000-0000-4000-8000-00000000c003', 'shell-sage', 'Shell Sage', 'One-liners for any shell task, explained',
   E'# Shell Sage\nSafe shell commands with an explanation of every flag.', 'coding',
   array['shell', 'linux', 'devops'], 'free', 0, array['telegram', 'slack'], 388),
  (11, '00000000-0000-4000-8000-00000000c004', 'blog-writer', 'Blog Writer', 'Long-form posts from a few bullet points',
   E'# Blog Writer\nOutlines, drafts and edits posts in your voice.', 'writing',
   array['blog', 'writing', 'seo'], 'per_task', 5, array['telegram'], 345),
  (12, '00000000-0000-4000-8000-00000000c004', 'copy-editor', 'Copy Editor', 'Tightens prose without losing your voice',
   E'# Copy Editor\nGrammar, clarity and rhythm, with tracked suggestions.', 'writing',
   array['editing', 'grammar'], 'per_task', 1, array['telegram', 'whatsapp'], 477),
  (13, '00000000-0000-4000-8000-00000000c004', 'story-weaver', 'Story Weaver', 'Collaborative fiction with memory of your world',
   E'# Story Weaver\nKeeps characters and plot threads straight across sessions.', 'writing',
   array['fiction', 'stories', 'creative'], 'per_session', 3, array['discord', 'telegram'], 132),
  (14, '00000000-0000-4000-8000-00000000c001', 'social-buzz', 'Social Buzz', 'A week of social posts from one idea',
   E'# Social Buzz\nPlans and writes posts for each network.', 'marketing',
   array['social', 'content', 'marketing'], 'per_task', 2, array['slack'], 264),
  (15, '00000000-0000-4000-8000-00000000c002', 'seo-audit', 'SEO Audit', 'Finds what keeps your pages off page one',
   E'# SEO Audit\nChecks titles, structure, speed hints and keywords.', 'marketing',
   array['seo', 'web', 'audit'], 'per_session', 8, array['slack'], 119),
  (16, '00000000-0000-4000-8000-00000000c003', 'helpdesk-hero', 'Helpdesk Hero', 'First-line support that knows your docs',
   E'# Helpdesk Hero\nAnswers customers from your knowledge base and escalates the rest.', 'support',
   array['support', 'customers', 'faq'], 'per_task', 1, array['whatsapp', 'telegram', 'slack'], 822),
  (17, '00000000-0000-4000-8000-00000000c004', 'refund-desk', 'Refund Desk', 'Handles refund requests by your policy',
   E'# Refund Desk\nApplies your refund policy consistently and politely.', 'support',
   array['support', 'refunds'], 'per_task', 2, array['whatsapp'], 58),
  (18, '00000000-0000-4000-8000-00000000c002', 'csv-analyst', 'CSV Analyst', 'Ask questions of your spreadsheets',
   E'# CSV Analyst\nLoads a CSV, answers questions and draws charts.', 'data',
   array['csv', 'analysis', 'charts'], 'per_session', 4, array['slack', 'telegram'], 441),
  (19, '00000000-0000-4000-8000-00000000c001', 'travel-buddy', 'Travel Buddy', 'Plans trips around your budget and pace',
   E'# Travel Buddy\nItineraries, packing lists and local tips.', 'personal',
   array['travel', 'planning'], 'free', 0, array['whatsapp', 'telegram'], 690),
  (20, '00000000-0000-4000-8000-00000000c004', 'fitness-coach', 'Fitness Coach', 'Workouts that adapt to how you feel',
   E'# Fitness Coach\nDaily plans, check-ins and gentle accountability.', 'personal',
   array['fitness', 'health', 'habits'], 'per_session', 2, array['telegram', 'whatsapp'], 377)
) as v(n, creator, slug, name, tagline, description, category, tags, pricing, price, relays, hires)
on conflict (id) do nothing;

-- One draft, visible only to its creator.
insert into public.agents (id, creator_id, slug, name, tagline, category, status)
values ('00000000-0000-4000-8000-0000000a0099', '00000000-0000-4000-8000-00000000c001', 'secret-draft',
        'Secret Draft', 'Not published yet', 'productivity', 'draft')
on conflict (id) do nothing;

insert into public.agent_reviews (agent_id, user_id, rating, title, body)
select a.id, u.id, 3 + ((a.n + u.n) % 3), 'Review #' || u.n, 'Helpful agent; would hire again.'
from (select id, row_number() over (order by slug) as n from public.agents where status = 'published') a
cross join (select id, row_number() over (order by email) as n from auth.users
            where id in ('00000000-0000-4000-8000-00000000d001', '00000000-0000-4000-8000-00000000d002',
                         '00000000-0000-4000-8000-00000000d003', '00000000-0000-4000-8000-00000000d004')) u
where (a.n + u.n) % 2 = 0
on conflict (agent_id, user_id) do nothing;

insert into public.collections (id, slug, title, description, featured, position) values
  ('00000000-0000-4000-8000-00000000e001', 'featured', 'Featured', 'Hand-picked agents to start with', true, 0),
  ('00000000-0000-4000-8000-00000000e002', 'for-developers', 'For developers', 'Code, SQL and shell helpers', false, 1)
on conflict (id) do nothing;
insert into public.collection_agents (collection_id, agent_id, position)
select '00000000-0000-4000-8000-00000000e001', id, row_number() over (order by hires_count desc)
from public.agents where slug in ('inbox-zero', 'code-reviewer', 'helpdesk-hero', 'travel-buddy')
on conflict do nothing;
insert into public.collection_agents (collection_id, agent_id, position)
select '00000000-0000-4000-8000-00000000e002', id, row_number() over (order by slug)
from public.agents where category = 'coding'
on conflict do nothing;

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
