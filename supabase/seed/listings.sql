-- Demo data around the demo agents, after shared/platform/seed.py published them (idempotent).

insert into public.agent_reviews (agent_id, user_id, rating, title, body)
select a.id, u.id, 3 + ((a.n + u.n) % 3), 'Review #' || u.n, 'Helpful agent; would hire again.'
-- Only the demo creators' listings: other published agents in the database (a shared test database
-- holds many) are not the seed's to review.
from (select id, row_number() over (order by slug) as n from public.agents
      where status = 'published' and creator_id in (
        '00000000-0000-4000-8000-00000000c001', '00000000-0000-4000-8000-00000000c002',
        '00000000-0000-4000-8000-00000000c003', '00000000-0000-4000-8000-00000000c004')) a
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
from public.agents where category = 'coding' and creator_id in (
  '00000000-0000-4000-8000-00000000c001', '00000000-0000-4000-8000-00000000c002',
  '00000000-0000-4000-8000-00000000c003', '00000000-0000-4000-8000-00000000c004')
on conflict do nothing;
