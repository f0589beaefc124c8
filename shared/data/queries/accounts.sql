-- name: dev_upsert_user
-- Plays Supabase Auth's admin API locally; the auth.users trigger creates the profile and trial.
insert into auth.users (email, email_confirmed_at, raw_user_meta_data)
values (%(email)s, now(), jsonb_build_object('display_name', %(display_name)s::text))
on conflict (email) do update set updated_at = now()
returning id;

-- name: set_user_role
update public.profiles set role = %(role)s::public.user_role where id = %(user_id)s;

-- name: my_profile
select p.id, p.display_name, p.avatar_url, p.role, p.plan, p.plan_status, p.default_model, p.created_at
from public.profiles p
where p.id = (select auth.uid());

-- name: ping
select 1 as ok;

-- name: rate_limit_hit
-- One atomic fixed-window increment (private.rate_limit_hit, migration 20261201004001): the hits in
-- the current window, this one included, and the seconds until it ends.
select hits as count, reset_in from private.rate_limit_hit(%(key)s, %(window_s)s::integer);

-- name: rate_limit_prune
-- Windows that ended long ago (keys nobody hits any more keep their last window until then).
delete from public.rate_limits where window_start < now() - make_interval(secs => %(older_than_s)s);

-- name: profile_update
-- As the user (RLS: own row; grants: these columns only); each field changes only when it was given.
update public.profiles set
  display_name = case when %(set_display_name)s then %(display_name)s::text else display_name end,
  avatar_url = case when %(set_avatar_url)s then %(avatar_url)s::text else avatar_url end,
  default_model = case when %(set_default_model)s then %(default_model)s::text else default_model end
where id = (select auth.uid());
