"""Chat streaming: stream tokens for the SSE gateway, SSE framing, turn event relay."""
