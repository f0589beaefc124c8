"""A local fake of the Discord HTTP API the relay calls (interaction follow-ups, channel messages,
typing), and interactions signed with Ed25519 as Discord signs them. `DISCORD_API_BASE=fake.url + "/api/v10"`."""

from .fake import DiscordFake

__all__ = ["DiscordFake"]
