"""What the intake functions answer the platforms (they read only the status)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from shared.models import Model


class Received(Model):
    received: int = Field(description="updates in the request the relay handles")
    recorded: int = Field(description="of those, new ones (the rest were redeliveries)")

    @classmethod
    def of(cls, ids: Sequence[int | None], handled: int) -> Received:
        return cls(received=handled, recorded=sum(1 for i in ids if i is not None))
