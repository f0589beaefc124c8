-- Hostile input (issue 9): who may broadcast on Realtime, and what a display name or avatar may hold.

-- realtime.send ------------------------------------------------------------------------------------
-- Functions are executable by PUBLIC unless revoked, so any signed-in user could broadcast frames on
-- another user's `session:{id}`. Only server paths (service_role) broadcast. On Supabase the
-- function belongs to the platform: where this role may not change its grants, the platform's own
-- grants stand and the notice says so.
do $$
begin
  if to_regprocedure('realtime.send(jsonb, text, text, boolean)') is not null then
    begin
      revoke execute on function realtime.send(jsonb, text, text, boolean) from public, anon, authenticated;
    exception when insufficient_privilege then
      raise notice 'realtime.send: grants left as the platform set them (%)', sqlerrm;
    end;
  end if;
end $$;

-- display names and avatars ------------------------------------------------------------------------
-- Names are plain text shown to other users (creator names on listings): no markup, no control
-- characters. Avatars are links a browser follows: http(s) only, so `javascript:` and `data:` URLs
-- cannot be stored. Existing rows are brought in line first, so the checks hold for every row.
-- Tags go whole (`<b>Ada</b>` → `Ada`), then any stray angle bracket or control character.
create or replace function private.plain_name(name text) returns text
language sql immutable parallel safe set search_path = '' as $$
  select regexp_replace(regexp_replace(name, '<[^<>]*>', '', 'g'), '[<>[:cntrl:]]', '', 'g')
$$;

update public.profiles set display_name = private.plain_name(display_name)
where display_name ~ '[<>[:cntrl:]]';
update public.profiles set avatar_url = null
where avatar_url is not null and avatar_url !~* '^https?://[^[:space:][:cntrl:]<>"'']+$';
update public.agent_instances set display_name = private.plain_name(display_name)
where display_name ~ '[<>[:cntrl:]]';

alter table public.profiles
  add constraint profiles_display_name_plain check (display_name !~ '[<>[:cntrl:]]'),
  add constraint profiles_avatar_url_http
    check (avatar_url is null or avatar_url ~* '^https?://[^[:space:][:cntrl:]<>"'']+$');
alter table public.agent_instances
  add constraint agent_instances_display_name_plain check (display_name !~ '[<>[:cntrl:]]');

-- Sign-up takes the name from the identity provider's metadata, which we do not control: a profile
-- being created gets the name stripped of markup rather than a failed sign-up. Later edits by the
-- user meet the check instead, so they learn their input was refused.
create or replace function private.profiles_plain_name() returns trigger
language plpgsql set search_path = '' as $$
begin
  new.display_name := private.plain_name(new.display_name);
  return new;
end $$;
create trigger profiles_plain_name before insert on public.profiles
  for each row execute function private.profiles_plain_name();
