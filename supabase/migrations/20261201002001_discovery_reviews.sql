-- Discovery and reviews (issue 10, items 1-2): what search, sorting and the rating stats need.

-- Sorts --------------------------------------------------------------------------------------------
-- Each sort pages by a keyset that ends in `id`, all descending (shared/marketplace.py). These
-- indexes match those orders exactly (a backward scan gives desc, desc), so a page is an index range
-- read; the ones they replace mixed directions (`hires_count desc, id`) and could not serve them.
drop index if exists public.agents_published_popular_idx;
drop index if exists public.agents_published_rating_idx;
drop index if exists public.agents_published_new_idx;
drop index if exists public.agents_category_idx;
create index agents_discover_popular_idx on public.agents (hires_count, id) where status = 'published';
create index agents_discover_category_idx on public.agents (category, hires_count, id) where status = 'published';
create index agents_discover_rating_idx on public.agents (rating_avg, reviews_count, id) where status = 'published';
create index agents_discover_new_idx on public.agents (published_at, id) where status = 'published';
-- An exact name match ranks first, and must be found even when the name is all stop words.
create index agents_discover_name_idx on public.agents (lower(name)) where status = 'published';

-- "Newest" sorts by published_at: a published listing always has one (NULLs would break the keyset).
create or replace function private.stamp_published_at() returns trigger language plpgsql as $$
begin
  if new.status = 'published' and new.published_at is null then
    new.published_at := now();
  end if;
  return new;
end $$;
create trigger agents_stamp_published before insert or update of status, published_at on public.agents
  for each row execute function private.stamp_published_at();
update public.agents set published_at = coalesce(updated_at, created_at)
where status = 'published' and published_at is null;

-- Most hired: every new instance is a hire (destroying one does not take the hire back). Counted per
-- statement from the transition table, so a bulk insert updates each agent once, not once per row.
create or replace function private.count_hires() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  update public.agents a set hires_count = a.hires_count + h.n
  from (select agent_id, count(*)::integer as n from new_instances group by agent_id) h
  where a.id = h.agent_id;
  return null;
end $$;
create trigger agent_instances_count_hires after insert on public.agent_instances
  referencing new table as new_instances for each statement execute function private.count_hires();

-- Rating stats -------------------------------------------------------------------------------------
-- rating_counts[k] is the number of k-star reviews; rating_avg and reviews_count derive from it.
alter table public.agents add column rating_counts integer[] not null default '{0,0,0,0,0}'
  check (cardinality(rating_counts) = 5 and 0 <= all (rating_counts));

-- Recount under the agent row's lock. The earlier trigger recounted without it: two reviews committed
-- at once each counted only itself (neither sees the other's uncommitted row), and the later update
-- overwrote the earlier one — the stats drifted. Taking the lock first and counting in the next
-- statement (which, in READ COMMITTED, takes a fresh snapshot after the wait) serialises recounts per
-- agent, so the last one always sees every committed review. `for no key update` rather than
-- `for update`: inserting a review holds a key-share lock on the agent (its foreign key), which
-- `for update` would conflict with — two inserts would deadlock.
create or replace function private.recount_agent_rating(target uuid) returns void
language plpgsql security definer set search_path = '' as $$
begin
  perform 1 from public.agents where id = target for no key update;
  update public.agents a set
    rating_counts = s.counts,
    reviews_count = s.n,
    rating_avg = coalesce(round(s.avg, 2), 0)
  from (
    select count(*)::integer as n, avg(r.rating) as avg,
           array[count(*) filter (where r.rating = 1), count(*) filter (where r.rating = 2),
                 count(*) filter (where r.rating = 3), count(*) filter (where r.rating = 4),
                 count(*) filter (where r.rating = 5)]::integer[] as counts
    from public.agent_reviews r where r.agent_id = target
  ) s
  where a.id = target;
end $$;
revoke all on function private.recount_agent_rating(uuid) from public;

create or replace function private.refresh_agent_rating() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if tg_op in ('INSERT', 'UPDATE') then
    perform private.recount_agent_rating(new.agent_id);
  end if;
  if tg_op = 'DELETE' or (tg_op = 'UPDATE' and old.agent_id is distinct from new.agent_id) then
    perform private.recount_agent_rating(old.agent_id);
  end if;
  return null;
end $$;
-- Editing a review's text leaves the stats alone.
drop trigger if exists agent_reviews_stats on public.agent_reviews;
create trigger agent_reviews_stats after insert or delete or update of rating, agent_id on public.agent_reviews
  for each row execute function private.refresh_agent_rating();

select private.recount_agent_rating(a.id) from public.agents a;

-- Reviews come only from users who hired the agent (an instance of theirs, in any status). The API
-- checks it to answer 403; the policy makes it true for direct PostgREST writes too.
create or replace function private.has_hired(agent uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (select 1 from public.agent_instances i
                 where i.user_id = (select auth.uid()) and i.agent_id = agent)
$$;
revoke all on function private.has_hired(uuid) from public;
grant execute on function private.has_hired(uuid) to authenticated, service_role;
drop policy agent_reviews_insert_own on public.agent_reviews;
create policy agent_reviews_insert_own on public.agent_reviews for insert to authenticated
  with check (user_id = (select auth.uid())
              and exists (select 1 from public.agents a where a.id = agent_id and a.status = 'published')
              and private.has_hired(agent_id));
create index if not exists agent_instances_user_agent_idx on public.agent_instances (user_id, agent_id);

-- A2A agent cards -----------------------------------------------------------------------------------
-- The card lists the skills of a published listing's current published version: their names and
-- descriptions only (the skill rows themselves stay with the creator under RLS).
create or replace function private.agent_card_skills(agent uuid) returns table (name text, description text)
language sql stable security definer set search_path = '' as $$
  select s.name, s.description
  from public.agents a
  join public.agent_versions v on v.id = a.current_version_id and v.status = 'published'
  join public.agent_skills s on s.version_id = v.id
  where a.id = agent and a.status = 'published'
  order by s.name
$$;
revoke all on function private.agent_card_skills(uuid) from public;
grant execute on function private.agent_card_skills(uuid) to anon, authenticated, service_role;

-- Discovery -----------------------------------------------------------------------------------------
-- One page of listing ids in a sort's order; the named query `agents_discover` joins them back to
-- `agents` as the caller, so RLS still decides what is returned.
--
-- Why a security-definer helper: under RLS, Postgres evaluates a policy's quals before any
-- non-leakproof operator of the query, and the full-text match (`@@`), array containment (`@>`) and
-- `lower(name) =` are not leakproof. As anon, then, none of them could use its index: every search was
-- a sequential scan of all listings (15-18 ms at 10,000 where the indexed plan takes under 1 ms). The
-- helper reads only published listings (the same rows the public policy allows), so it reveals
-- nothing a visitor cannot see, and the join back by primary key (uuid equality is leakproof) keeps
-- the policy in force for the columns returned.
--
-- The statement is built from fixed fragments (values only through `using`): it holds just the
-- filters given, so each call is planned for its own values rather than one generic plan with
-- `$1 is null or …` branches that can use no index.
--
-- Sorts, each a keyset page descending and ending in `id` (the agents_discover_* indexes):
--   relevance  (rank, hires_count, id); rank = ts_rank normalised to [0, 1) (option 32), plus 1 for an
--              exact name match (case-insensitive), so an exact name always comes first; the rank
--              depends only on the row and the query, so a cursor's position stays put under inserts
--   popular    (hires_count, id)
--   rating     (rating_avg, reviews_count, id)
--   new        (published_at, id)
-- `p_after` holds the cursor's values under those names (checked by the API before they get here).
create or replace function private.discover(p_sort text, p_q text, p_category text, p_tags text[],
                                            p_after jsonb, p_limit integer)
returns table (id uuid, rank double precision)
language plpgsql stable security definer set search_path = '' rows 25 as $$
declare
  conds text := 'a.status = ''published''';
  rank_expr text := 'null::double precision';
  keyset text;
  after_values text;
begin
  if p_q is not null then
    conds := conds || ' and (a.search @@ $1 or lower(a.name) = $2)';
  end if;
  if p_category is not null then
    conds := conds || ' and a.category = $3';
  end if;
  if cardinality(p_tags) > 0 then
    conds := conds || ' and a.tags @> $4';
  end if;
  case p_sort
    when 'relevance' then
      if p_q is null then
        raise exception 'relevance needs a query' using errcode = 'invalid_parameter_value';
      end if;
      rank_expr := '((lower(a.name) = $2)::integer + ts_rank(a.search, $1, 32))::double precision';
      keyset := 's.rank, s.hires_count, s.id';
      after_values := '($5->>''rank'')::double precision, ($5->>''hires_count'')::integer, ($5->>''id'')::uuid';
    when 'popular' then
      keyset := 's.hires_count, s.id';
      after_values := '($5->>''hires_count'')::integer, ($5->>''id'')::uuid';
    when 'rating' then
      keyset := 's.rating_avg, s.reviews_count, s.id';
      after_values := '($5->>''rating_avg'')::numeric, ($5->>''reviews_count'')::integer, ($5->>''id'')::uuid';
    when 'new' then
      keyset := 's.published_at, s.id';
      after_values := '($5->>''published_at'')::timestamptz, ($5->>''id'')::uuid';
    else
      raise exception 'unknown sort %', p_sort using errcode = 'invalid_parameter_value';
  end case;
  return query execute format(
    'select s.id, s.rank from (select a.id, %s as rank, a.hires_count, a.rating_avg, a.reviews_count,'
    ' a.published_at from public.agents a where %s) s %s order by %s limit $6',
    rank_expr, conds,
    case when p_after is null then '' else format('where (%s) < (%s)', keyset, after_values) end,
    replace(keyset, ',', ' desc,') || ' desc')
  using case when p_q is null then null else websearch_to_tsquery('english', p_q) end, lower(p_q), p_category, p_tags, p_after, p_limit;
end $$;
revoke all on function private.discover(text, text, text, text[], jsonb, integer) from public;
grant execute on function private.discover(text, text, text, text[], jsonb, integer) to anon, authenticated, service_role;
