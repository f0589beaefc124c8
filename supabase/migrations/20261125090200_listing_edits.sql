-- Listings (issue 9): a creator edits only drafts. A listing in review, published, rejected or archived
-- changes only through a new version (submit → scan → publish), which the publish pipeline writes as
-- service_role; a client's direct `update public.agents` on it touches no row. Before this, the
-- update policy checked only the owner, so a creator could reprice or rename a live listing at once.

-- Clients may update only these columns (status, slug, creator, version and the denormalised stats
-- stay the server's), and only while the row is their own draft, before and after the change.
revoke update on public.agents from authenticated;
grant update (name, tagline, description, category, tags, pricing_model, credits_price, memory_mb, relays, models)
  on public.agents to authenticated;
drop policy agents_update_own on public.agents;
create policy agents_update_own_draft on public.agents for update to authenticated
  using (creator_id = (select auth.uid()) and status = 'draft')
  with check (creator_id = (select auth.uid()) and status = 'draft');

-- A sane price: at most 10,000 credits ($100) a turn or session, whoever writes it.
alter table public.agents drop constraint if exists agents_credits_price_check;
alter table public.agents add constraint agents_credits_price_bounds check (credits_price between 0 and 10000);
