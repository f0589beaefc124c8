-- name: agents_discover
-- One page of discovery (shared/marketplace.py): the ids come from private.discover in the sort's
-- order (migration 20261201002001 says why it is a helper), joined back here as the caller so RLS
-- applies to what is returned. `status = 'published'` again so creators never see their drafts here.
select a.id, a.slug, a.name, a.tagline, a.category, a.tags, a.pricing_model, a.credits_price,
       a.hires_count, a.rating_avg, a.reviews_count, a.published_at,
       private.creator_name(a.creator_id) as creator_name, d.rank
from private.discover(%(sort)s::text, %(q)s::text, %(category)s::text, %(tags)s::text[], %(after)s::jsonb,
                      %(limit)s::integer) with ordinality as d (id, rank, ord)
join public.agents a on a.id = d.id
where a.status = 'published'
order by d.ord;

-- name: agent_by_slug
select a.id, a.slug, a.name, a.tagline, a.description, a.category, a.tags, a.status, a.pricing_model,
       a.credits_price, a.memory_mb, a.relays::text[] as relays, a.models, a.hires_count, a.rating_avg, a.reviews_count,
       a.rating_counts, a.published_at, a.creator_id, private.creator_name(a.creator_id) as creator_name,
       v.version as current_version, v.openclaw_version,
       v.id as current_version_id, v.changelog as current_version_changelog,
       v.published_at as current_version_published_at
from public.agents a
left join public.agent_versions v on v.id = a.current_version_id
where a.slug = %(slug)s;

-- name: collections_page
-- Featured collections first, then by position; each with its published agents in order (a draft or
-- archived agent in a collection is left out: RLS hides it and the status check says so).
select c.id, c.slug, c.title, c.description, c.featured, c.position, (not c.featured)::int as featured_rank,
       coalesce((
         select json_agg(x order by x.position, x.slug)
         from (select ca.position, a.id, a.slug, a.name, a.tagline, a.category, a.tags, a.pricing_model,
                      a.credits_price, a.hires_count, a.rating_avg, a.reviews_count, a.published_at,
                      private.creator_name(a.creator_id) as creator_name
               from public.collection_agents ca
               join public.agents a on a.id = ca.agent_id
               where ca.collection_id = c.id and a.status = 'published'
               order by ca.position, a.slug
               limit %(agents_limit)s) x
       ), '[]'::json) as agents
from public.collections c
where (%(featured)s::boolean is null or c.featured = %(featured)s::boolean)
  and (%(after_rank)s::int is null
       or ((not c.featured)::int, c.position, c.id) > (%(after_rank)s::int, %(after_position)s::int, %(after_id)s::uuid))
order by (not c.featured)::int, c.position, c.id
limit %(limit)s;

-- name: agent_card
-- What an A2A agent card says about a published listing; skills from its current published version.
select a.slug, a.name, a.tagline, a.description, a.category, a.tags,
       private.creator_name(a.creator_id) as creator_name, v.version,
       coalesce((select json_agg(json_build_object('name', s.name, 'description', s.description))
                 from private.agent_card_skills(a.id) s), '[]'::json) as skills
from public.agents a
left join public.agent_versions v on v.id = a.current_version_id and v.status = 'published'
where a.slug = %(slug)s and a.status = 'published';

-- Reviews (shared/reviews.py) ----------------------------------------------------------------------

-- name: review_agent
select a.id from public.agents a where a.slug = %(slug)s and a.status = 'published';

-- name: review_has_hired
-- Any instance of theirs for this agent counts, whatever its status (destroyed included).
select exists (select 1 from public.agent_instances i
               where i.user_id = %(user_id)s and i.agent_id = %(agent_id)s) as hired;

-- name: review_insert
-- Nothing comes back when the user already reviewed this agent (one review per user per agent).
insert into public.agent_reviews (agent_id, user_id, rating, title, body)
values (%(agent_id)s, %(user_id)s, %(rating)s, %(title)s, %(body)s)
on conflict (agent_id, user_id) do nothing
returning id, rating, title, body, created_at, updated_at,
          private.creator_name(user_id) as author_name;

-- name: review_update_mine
update public.agent_reviews r set rating = %(rating)s, title = %(title)s, body = %(body)s
where r.agent_id = %(agent_id)s and r.user_id = %(user_id)s
returning r.id, r.rating, r.title, r.body, r.created_at, r.updated_at,
          private.creator_name(r.user_id) as author_name;

-- name: review_delete_mine
delete from public.agent_reviews r where r.agent_id = %(agent_id)s and r.user_id = %(user_id)s
returning r.id;

-- name: reviews_page
-- Public reviews, newest first (agent_reviews_agent_idx). creator_name is a profile's public name.
select r.id, r.rating, r.title, r.body, r.created_at, r.updated_at,
       private.creator_name(r.user_id) as author_name
from public.agent_reviews r
where r.agent_id = %(agent_id)s and r.is_public
  and (%(after_created)s::timestamptz is null
       or (r.created_at, r.id) < (%(after_created)s::timestamptz, %(after_id)s::uuid))
order by r.created_at desc, r.id desc
limit %(limit)s;
