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
-- Fixed-window counter: one upsert per request, the window start is the key.
insert into public.rate_limits (key, window_start, count)
values (%(key)s, to_timestamp(floor(extract(epoch from now()) / %(window_s)s) * %(window_s)s), 1)
on conflict (key, window_start) do update set count = public.rate_limits.count + 1
returning count, extract(epoch from (window_start + make_interval(secs => %(window_s)s) - now()))::int + 1 as reset_in;
