"""Chat relays (ARCHITECTURE §5 "Relay message"): Telegram, WhatsApp, Slack and Discord reach the
same agent a user hired on the web.

    models      what intake records (`InboxRecord`), what the job acts on (`Incoming`), the send errors
    telegram, slack, whatsapp, discord
                one module per platform: its request verifiers (route auth kinds), intake parsing,
                the job's parsing, and sending through the platform's client
    platforms   the platform modules by relay name (imported on first use)
    intake      record updates in `relay_inbox` (dedupe and queue in one statement)
    linking     link tokens, binding an external user to an instance, connections
    process     the `relay_process` job: route → wake → typing → the agent's turn → split → send → settle
    agent       the turn itself: opened and settled as web chat does, the reply collected from the bridge
    split       cutting a reply at the platform's limit on paragraph and sentence boundaries
    outbox      exactly-once sends (`relay_outbox`), rate limits honoured
    keepalive   the typing indicator, re-sent while the agent works

Intake modules (the `functions/` entry points) import only `models`, `intake` and their platform's
verifier half: no procrastinate, httpx or platform SDK at a cold start.
"""
