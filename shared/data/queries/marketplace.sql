-- name: agents_list
-- One sort key per request keeps keyset pagination uniform across sorts; `status = 'published'`
-- is repeated here (RLS also enforces it) so creators do not see their drafts in the marketplace.
with q as (
  select case when %(q)s::text is null then null else websearch_to_tsquery('english', %(q)s::text) end as tsq
)
select a.id, a.slug, a.name, a.tagline, a.category, a.tags, a.pricing_model, a.credits_price,
       a.hires_count, a.rating_avg, a.reviews_count, a.published_at,
       private.creator_name(a.creator_id) as creator_name, s.sort_key
from public.agents a
cross join q
cross join lateral (
  select case %(sort)s::text
    when 'relevance' then ts_rank(a.search, q.tsq)::float8
    when 'rating' then a.rating_avg::float8
    when 'new' then extract(epoch from a.published_at)::float8
    else a.hires_count::float8
  end as sort_key
) s
where a.status = 'published'
  and (q.tsq is null or a.search @@ q.tsq)
  and (%(category)s::text is null or a.category = %(category)s::text)
  and (%(tag)s::text is null or a.tags @> array[%(tag)s::text])
  and (%(after_key)s::float8 is null or (s.sort_key, a.id) < (%(after_key)s::float8, %(after_id)s::uuid))
order by s.sort_key desc, a.id desc
limit %(limit)s;

-- name: agent_by_slug
select a.id, a.slug, a.name, a.tagline, a.description, a.category, a.tags, a.status, a.pricing_model,
       a.credits_price, a.memory_mb, a.relays::text[] as relays, a.models, a.hires_count, a.rating_avg, a.reviews_count,
       a.published_at, a.creator_id, private.creator_name(a.creator_id) as creator_name,
       v.version as current_version, v.openclaw_version
from public.agents a
left join public.agent_versions v on v.id = a.current_version_id
where a.slug = %(slug)s;
