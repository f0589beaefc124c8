"""Agent lifecycle on Fly (ARCHITECTURE §4): hire → provision (or claim a warm-pool unit) → suspend/wake →
health → reconcile → idle stop → update → destroy.

Modules (import what you use; this package imports nothing eagerly, so API cold starts stay light):

    instances      the API's logic: hire, list/get/patch, ask for an action (checked, then deferred)
    notifications  the user's notifications
    states         the state machine: every transition and its allowed-from set
    locks          the per-instance lock (advisory, transaction-scoped) all operations share
    provision      the provision saga (resumable, cleanup on final failure)
    fly_steps      app → volume → machine on Fly (adoption, region fallback): run by the saga and the pool
    warm_pool      pre-made suspended units: the refill job, and the claim a hire's provisioning tries first
    bundle         pushing an agent version's files to the bridge (PUT /v1/bundle) once a machine is up
    actions        start / stop / suspend / restart (and idle stop) as run by jobs
    destroy        destroying → … → destroyed
    wake           wake(instance_id) and machine_target(instance_id): what chat and relays call
    health         the health-check sweep
    reconcile      database vs Fly: drift repaired, orphans deleted
    idle           idle shutdown by plan threshold
    update         the update primitive (stop → new config → start; waits for streaming turns)
    machines       driving one machine on Fly (start/stop/suspend with waits, its config)
    probe          waiting for the bridge's readiness (the calls are the bridge client's, shared/bridge)
    gateway        the per-instance gateway token in Vault
    names          Fly resource names derived from the instance id
    config         settings and the Fly client factory
    store          the lifecycle's reads and writes (service role)
    errors         the exception tree, and `retryable` / `reason_of` (what a job does about one)

The jobs that run all this are in `jobs/lifecycle.py` (queue `lifecycle`), declared in `shared.jobs`.
"""

# What chat and relays call. Imported here (the module is light: the Fly client loads on first use)
# so that `shared.lifecycle.wake` names the function, not the module of the same name.
from shared.lifecycle.wake import MachineTarget, machine_target, needs_wake, wake

__all__ = ["MachineTarget", "machine_target", "needs_wake", "wake"]
