-- Relays (issue 12): what intake, processing and exactly-once sending need beyond the initial tables.
--
-- relay_inbox: one row per inbound platform update (unique (relay, platform_id) is the dedupe). Intake
--   records the external chat it came from (the processing job's lock: one chat's messages are
--   handled one at a time, in order) and the job records the turn it opened, so a job killed after
--   the agent answered sends the stored answer instead of asking again.
-- relay_outbox: one row per outbound part, keyed `<relay>:<inbox id>:<part>`, written before the send
--   (`sending`, committed) and after it (`sent`). A row found `sending` on a retry is in doubt: the
--   job died between the two. It is re-sent only where the platform itself deduplicates that send
--   (Discord: a nonce, or an edit of the deferred reply); elsewhere it is marked failed, never sent twice.
-- sessions.external_chat_id: one session per external chat and instance (the agent's memory of that chat).

alter table public.relay_inbox
  add column chat_id text,
  add column turn_id uuid,
  add column attempts integer not null default 0 check (attempts >= 0),
  add column updated_at timestamptz not null default now();

alter table public.relay_outbox
  add column inbox_id bigint references public.relay_inbox (id) on delete cascade,
  add column part integer check (part is null or part >= 0),
  add column error text,
  add column response jsonb,
  add column attempted_at timestamptz;
alter table public.relay_outbox drop constraint relay_outbox_status_check;
alter table public.relay_outbox add constraint relay_outbox_status_check
  check (status in ('pending', 'sending', 'sent', 'failed', 'skipped'));
create index relay_outbox_inbox_idx on public.relay_outbox (inbox_id, part);

alter table public.relay_connections add column updated_at timestamptz not null default now();

alter table public.sessions add column external_chat_id text
  check (external_chat_id is null or char_length(external_chat_id) <= 200);
create unique index sessions_external_chat_idx on public.sessions (instance_id, channel, external_chat_id)
  where external_chat_id is not null;

-- Link tokens are looked up by hash (unique already) and swept by age.
create index relay_link_tokens_expires_idx on public.relay_link_tokens (expires_at);
