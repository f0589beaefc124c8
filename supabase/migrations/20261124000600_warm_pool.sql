-- Warm pool (ARCHITECTURE §4): what a pre-made unit needs beyond the initial table.
--   gateway_token_secret_id  the unit's own gateway token in Vault (its machine has it in its env);
--                            a hire that claims the unit takes the secret over with the resources
--   image, memory_mb         what the machine was made with: a hire claims only a unit that matches
--                            the current base image and the agent's memory (a stale one is retired)
--   error_message            why a unit failed (readable; failed units are deleted by the refill)
alter table public.warm_pool
  add column if not exists gateway_token_secret_id uuid,
  add column if not exists image text not null default '',
  add column if not exists memory_mb integer not null default 2048 check (memory_mb >= 256),
  add column if not exists error_message text;
