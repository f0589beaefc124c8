"""A local Fly.io Machines emulator: the REST API under /v1, Fly's edge proxy, fault injection.

    from devstack.emulators.fly import FlyEmulator
    with FlyEmulator(mode="simulated", token="t") as fly:
        client = fly.client()            # shared.fly.FlyClient against fly.url
        ...                              # traffic to machines: fly.proxy_url

CLI: `python -m devstack.emulators.fly --port 4280 --proxy-port 4281 --mode simulated`.
Modules: `state` (the world and its state machine), `api` (routes), `runner` (process vs simulated
machines), `proxy` (routing, autostart, fly-replay, streaming), `faults`, `stub_machine` (the
default machine workload), `spec_check` (validates traffic against Fly's OpenAPI file, for tests).
"""

from devstack.emulators.fly.emulator import FlyEmulator
from devstack.emulators.fly.faults import FaultConfig, FaultInjector

__all__ = ["FaultConfig", "FaultInjector", "FlyEmulator"]
