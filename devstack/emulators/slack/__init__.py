"""A local fake of the Slack Web API methods the relay calls, and Events API / slash-command deliveries
signed as Slack signs them (v0). `SLACK_API_BASE=fake.url + "/api/"` (slack_sdk's `base_url`)."""

from .fake import SlackFake

__all__ = ["SlackFake"]
