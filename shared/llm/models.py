"""The shapes of the keys API and of spend caps (request bodies refuse unknown fields)."""

from datetime import datetime

from pydantic import ConfigDict, Field

from shared.llm.providers import Provider
from shared.models import Model

MAX_CAP = 1_000_000


class KeyInput(Model):
    model_config = ConfigDict(extra="forbid")
    # Printable ASCII without spaces: every provider's key format, and nothing a log could mistake
    # for the end of a field.
    api_key: str = Field(min_length=8, max_length=512, pattern=r"^[\x21-\x7e]+$",
                         description="The provider's API key. Stored only in Vault; never returned.")


class ApiKey(Model):
    """A stored key, described without the key."""

    provider: Provider
    last_four: str = Field(description="The key's last four characters, to tell keys apart.")
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None
    checked: bool | None = Field(default=None, description="On PUT: whether the provider accepted the key "
                                                           "(null when no check was made).")


class SpendCap(Model):
    """An instance's spend caps in credits; null keeps the plan's default for that window."""

    model_config = ConfigDict(extra="forbid")
    hourly: int | None = Field(default=None, ge=0, le=MAX_CAP, description="credits per clock hour (UTC)")
    daily: int | None = Field(default=None, ge=0, le=MAX_CAP, description="credits per day (UTC)")
