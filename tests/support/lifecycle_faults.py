"""The fault mix for "provisioning under 20% injected Fly faults" (tests at reduced N, and `bench hire`).

About one API call in five fails (429, 5xx, 408 — half of the 408s after doing the work), one machine
or volume create in five finds no capacity in the region asked, one start in five is slow, and one
started machine in ten crashes soon after.
"""

from __future__ import annotations

from typing import Any


def twenty_percent(seed: int = 5, slow_start_s: float = 0.3) -> dict[str, Any]:
    return {
        "seed": seed,
        "rate_limit": {"probability": 0.07, "retry_after": 0.05},
        "server_error": {"probability": 0.07, "status": 503},
        "timeout": {"probability": 0.06, "perform": 0.5},
        "capacity": {"probability": 0.2, "ops": ["create_machine", "create_volume"]},
        "slow_start": {"probability": 0.2, "delay_s": slow_start_s},
        "crash": {"probability": 0.1, "after_s": 0.05},
    }
