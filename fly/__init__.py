"""What runs on Fly.io: the SSE gateway, the Discord gateway, workers, the agent machine image."""
