"""How to reach one instance's machine: what `shared.lifecycle.machine_target` answers and every bridge
call takes. Kept apart from the client so the lifecycle can name it without loading the client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class MachineTarget:
    """An instance's Fly app and machine, and its gateway token (never in repr; "" for none, as the
    liveness probe needs). Unpacks as `(app, machine_id, gateway_token)`."""

    instance_id: str
    app: str
    machine_id: str
    gateway_token: str = field(default="", repr=False)

    def __iter__(self) -> Iterator[str]:
        return iter((self.app, self.machine_id, self.gateway_token))
