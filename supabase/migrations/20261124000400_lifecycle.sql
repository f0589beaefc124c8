-- Agent lifecycle (ARCHITECTURE §4): what the lifecycle jobs look up often.

-- The update job waits while a turn of the instance is streaming: find those without scanning turns.
create index if not exists turns_instance_streaming_idx on public.turns (instance_id) where status = 'streaming';

-- Reconcile and the health check read every live instance that has Fly resources.
create index if not exists agent_instances_fly_idx on public.agent_instances (status) where fly_app is not null;
