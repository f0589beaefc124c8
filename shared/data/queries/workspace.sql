-- Workspace (shared/workspace.py): projects → teams → the instances in them, and the home page.
-- Everything runs as the signed-in user, so RLS keeps each query to the owner's rows; the explicit
-- `owner_id`/`user_id` filters are what the indexes serve.

-- name: projects_page
select p.id, p.name, p.description, p.created_at, p.updated_at,
       (select count(*) from public.teams t where t.project_id = p.id)::int as teams_count
from public.projects p
where p.owner_id = %(user_id)s
  and (%(after_created)s::timestamptz is null
       or (p.created_at, p.id) < (%(after_created)s::timestamptz, %(after_id)s::uuid))
order by p.created_at desc, p.id desc
limit %(limit)s;

-- name: project_view
select p.id, p.name, p.description, p.created_at, p.updated_at,
       (select count(*) from public.teams t where t.project_id = p.id)::int as teams_count
from public.projects p
where p.id = %(id)s;

-- name: project_create
insert into public.projects (owner_id, name, description)
values (%(user_id)s, %(project_name)s, %(description)s)
returning id;

-- name: project_update
update public.projects set name = coalesce(%(project_name)s, name), description = coalesce(%(description)s, description)
where id = %(id)s
returning id;

-- name: project_delete
-- Teams and their memberships cascade; the instances themselves are not touched.
delete from public.projects where id = %(id)s returning id;

-- name: teams_page
-- A project's teams in creation order, each with its instances; or one team (team_id, project_id null).
select t.id, t.project_id, t.name, t.created_at, t.updated_at,
       coalesce((
         select json_agg(x order by x.added_at, x.id)
         from (select i.id, i.agent_id, a.slug as agent_slug, a.name as agent_name, i.display_name,
                      i.status::text as status, ta.added_at
               from public.team_agents ta
               join public.agent_instances i on i.id = ta.instance_id
               left join public.agents a on a.id = i.agent_id
               where ta.team_id = t.id) x
       ), '[]'::json) as instances
from public.teams t
where (%(project_id)s::uuid is null or t.project_id = %(project_id)s::uuid)
  and (%(team_id)s::uuid is null or t.id = %(team_id)s::uuid)
  and (%(after_created)s::timestamptz is null
       or (t.created_at, t.id) > (%(after_created)s::timestamptz, %(after_id)s::uuid))
order by t.created_at, t.id
limit %(limit)s;

-- name: team_create
-- The composite foreign key (project_id, owner_id) makes a team belong to its project's owner.
insert into public.teams (project_id, owner_id, name)
values (%(project_id)s, %(user_id)s, %(team_name)s)
returning id;

-- name: team_update
update public.teams set name = %(team_name)s where id = %(id)s returning id;

-- name: team_delete
delete from public.teams where id = %(id)s returning id;

-- name: team_instance_owned
-- The owner's instance (RLS and the explicit filter agree: another user's is simply not found).
select i.id, i.status::text as status
from public.agent_instances i
where i.id = %(instance_id)s and i.user_id = %(user_id)s;

-- name: team_instance_add
-- Adding an instance that is already in the team changes nothing (PUT is idempotent).
insert into public.team_agents (team_id, instance_id, owner_id)
values (%(team_id)s, %(instance_id)s, %(user_id)s)
on conflict (team_id, instance_id) do nothing;

-- name: team_instance_remove
delete from public.team_agents where team_id = %(team_id)s and instance_id = %(instance_id)s;

-- name: home_summary
-- The home page in one round trip: live instances (most recently active first) and their counts by
-- status, recent sessions, and unread notifications.
select
  coalesce((
    select json_agg(x order by x.last_active_at desc, x.id)
    from (select i.id, i.agent_id, a.slug as agent_slug, a.name as agent_name, i.display_name,
                 i.status::text as status, i.provision_stage::text as provision_stage, i.error_message,
                 i.last_active_at
          from public.agent_instances i
          left join public.agents a on a.id = i.agent_id
          where i.user_id = %(user_id)s and i.status <> 'destroyed'
          order by i.last_active_at desc, i.id
          limit %(instances_limit)s) x
  ), '[]'::json) as instances,
  coalesce((
    select json_object_agg(c.status, c.n)
    from (select i.status::text as status, count(*)::int as n
          from public.agent_instances i
          where i.user_id = %(user_id)s and i.status <> 'destroyed'
          group by i.status) c
  ), '{}'::json) as instance_counts,
  coalesce((
    select json_agg(x order by x.last_message_at desc, x.id)
    from (select s.id, s.instance_id, a.slug as agent_slug, a.name as agent_name, s.title, s.channel,
                 s.last_message_at
          from public.sessions s
          join public.agent_instances i on i.id = s.instance_id
          left join public.agents a on a.id = i.agent_id
          where s.user_id = %(user_id)s
          order by s.last_message_at desc, s.id
          limit %(sessions_limit)s) x
  ), '[]'::json) as recent_sessions,
  (select count(*) from public.notifications n
   where n.user_id = %(user_id)s and n.read_at is null)::int as unread_notifications,
  coalesce((
    select json_agg(x order by x.created_at desc, x.id desc)
    from (select n.id, n.kind, n.title, n.body, n.data, n.read_at, n.created_at
          from public.notifications n
          where n.user_id = %(user_id)s and n.read_at is null
          order by n.created_at desc, n.id desc
          limit %(notifications_limit)s) x
  ), '[]'::json) as notifications;
