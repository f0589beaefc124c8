"""Web chat: turns streamed from the agent machine to the browser, persisted in frames, resumable."""
