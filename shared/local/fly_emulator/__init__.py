"""A local Fly.io Machines emulator: the REST API under /v1, Fly's edge proxy, fault injection.

    from shared.local.fly_emulator import FlyEmulator
    with FlyEmulator(mode="simulated", token="t") as fly:
        client = fly.client()            # shared.fly.FlyClient against fly.url
        ...                              # traffic to machines: fly.proxy_url

CLI: `python -m shared.local.fly_emulator --port 4280 --proxy-port 4281 --mode simulated`.
Modules: `state` (the world and its state machine), `api` (routes), `runner` (process vs simulated
machines), `proxy` (routing, autostart, fly-replay, streaming), `faults`, `stub_machine` (the
default machine workload), `spec_check` (validates traffic against Fly's OpenAPI file, for tests).
"""

from shared.local.fly_emulator.emulator import FlyEmulator
from shared.local.fly_emulator.faults import FaultConfig, FaultInjector

__all__ = ["FaultConfig", "FaultInjector", "FlyEmulator"]
