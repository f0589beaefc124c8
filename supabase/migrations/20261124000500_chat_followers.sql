-- Resumable streams: a client that reconnects (`GET /api/chat/stream/{turn_id}`) marks the turn as
-- followed. When the original browser connection drops, the streaming function keeps relaying for
-- a grace period and runs the turn to its end while someone follows; with nobody back it cancels
-- upstream (ARCHITECTURE §5: a disconnect cancels upstream, a reload sees the answer complete).
alter table public.turns add column followed_at timestamptz;
