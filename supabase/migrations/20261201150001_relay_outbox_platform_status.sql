-- relay_outbox.platform_status: what the platform itself later reported of a part (WhatsApp's status
--   webhooks: sent → delivered → read), matched by the part's key, which the send carried as
--   `biz_opaque_callback_data`. A part found `sending` on a retry is then known to have reached Meta
--   (a status arrived) or, after a wait with none, known not to have: it is sent, never in doubt.
-- Written only by the service role (the webhook); relay_outbox has no tenant policies.

alter table public.relay_outbox
  add column platform_status text
    check (platform_status is null or platform_status in ('sent', 'delivered', 'read')),
  add column platform_status_at timestamptz,
  add column platform_message_id text check (platform_message_id is null or char_length(platform_message_id) <= 200);
