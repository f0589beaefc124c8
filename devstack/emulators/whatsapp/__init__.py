"""A local fake of the WhatsApp Cloud API's messages endpoint, and webhook notifications signed as Meta
signs them (`X-Hub-Signature-256`). `WHATSAPP_API_BASE=fake.url + "/v21.0"`."""

from .fake import WhatsAppFake

__all__ = ["WhatsAppFake"]
