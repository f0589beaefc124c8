"""Every durable job, declared once (ARCHITECTURE §1, §4, §5). The task functions are in `jobs/`
(`@task(SPEC)` in `jobs/app.py` registers each under its spec); everything that defers one passes
the spec to `shared.jobs.defer`. Scheduled ones are also listed in `shared.schedules`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from shared.jobs.spec import BY_CALLER, JobArgs, JobSpec

LIFECYCLE = "lifecycle"
BILLING = "billing"
MAINTENANCE = "maintenance"
RELAYS = "relays"


def instance_lock(instance_id: str) -> str:
    """The job lock every job of one instance holds, so the queue runs them one at a time."""
    return f"instance:{instance_id}"


def _of_instance(args: JobArgs) -> str:
    return instance_lock(str(args["instance_id"]))


def _waiting(prefix: str) -> Callable[[JobArgs], str]:
    """One such job of an instance waiting at most."""
    return lambda args: f"{prefix}:{args['instance_id']}"


def _stop_waiting(args: JobArgs) -> str:
    # An idle stop and a stop the user asked for may both wait: the idle one re-checks idleness.
    prefix = "idle-stop" if args.get("reason") == "idle" else "stop"
    return f"{prefix}:{args['instance_id']}"


# --- lifecycle (per instance) ----------------------------------------------------------------------

PROVISION_INSTANCE = JobSpec("provision_instance", LIFECYCLE, ("instance_id",), lock=_of_instance,
                             queueing_lock=_waiting("provision"))
START_INSTANCE = JobSpec("start_instance", LIFECYCLE, ("instance_id",), lock=_of_instance,
                         queueing_lock=_waiting("start"))
STOP_INSTANCE = JobSpec("stop_instance", LIFECYCLE, ("instance_id", "reason"), lock=_of_instance,
                        queueing_lock=_stop_waiting)
SUSPEND_INSTANCE = JobSpec("suspend_instance", LIFECYCLE, ("instance_id",), lock=_of_instance,
                           queueing_lock=_waiting("suspend"))
RESTART_INSTANCE = JobSpec("restart_instance", LIFECYCLE, ("instance_id",), lock=_of_instance,
                           queueing_lock=_waiting("restart"))
# Ahead of a provision retry waiting for its backoff, so a destroy is not held up behind it.
DESTROY_INSTANCE = JobSpec("destroy_instance", LIFECYCLE, ("instance_id",), priority=10, lock=_of_instance,
                           queueing_lock=_waiting("destroy"))
UPDATE_INSTANCE = JobSpec("update_instance", LIFECYCLE, ("instance_id", "version_id", "image"), lock=_of_instance)

INSTANCE_ACTIONS: Mapping[str, JobSpec] = {
    "start": START_INSTANCE, "stop": STOP_INSTANCE, "suspend": SUSPEND_INSTANCE, "restart": RESTART_INSTANCE,
    "destroy": DESTROY_INSTANCE,
}

# --- lifecycle sweeps and the warm pool ------------------------------------------------------------

HEALTH_CHECK = JobSpec("health_check", LIFECYCLE, ("timestamp",), queueing_lock="health_check")
# One page of the health check's listing to probe (shared/lifecycle/health.py): the sweep defers them
# so that several worker processes share the probing; each page once per period (claimed by the
# sweep), no lock, so they run side by side.
HEALTH_PROBE = JobSpec("health_probe", LIFECYCLE, ("instance_ids", "listed_at"))
RECONCILE = JobSpec("reconcile", LIFECYCLE, ("timestamp",), queueing_lock="reconcile")
IDLE_SHUTDOWN = JobSpec("idle_shutdown", LIFECYCLE, ("timestamp",), queueing_lock="idle_shutdown")
# One refill waiting at most, one running at a time (the job lock; direct callers take an advisory lock).
REFILL_WARM_POOL = JobSpec("refill_warm_pool", LIFECYCLE, ("timestamp",), lock="warm-pool",
                           queueing_lock="refill_warm_pool")

# --- billing -----------------------------------------------------------------------------------------

# The lock is the event's customer (or account), which only the webhook sees: events of one customer
# run one at a time, in arrival order.
STRIPE_EVENT = JobSpec("stripe_event", BILLING, ("event_id",), lock=BY_CALLER)
REAP_TURNS = JobSpec("reap_turns", BILLING, ("timestamp",))
BILLING_AGGREGATE = JobSpec("billing_aggregate", BILLING, ("timestamp",))
PAYOUTS = JobSpec("payouts", BILLING, ("timestamp",))
# Model calls outside turns (heartbeats, background work), debited hourly (shared/llm/hourly.py).
SETTLE_MODEL_CALLS = JobSpec("settle_model_calls", BILLING, ("timestamp",), queueing_lock="settle_model_calls")

# --- maintenance -------------------------------------------------------------------------------------

RETRY_STALLED_JOBS = JobSpec("retry_stalled_jobs", MAINTENANCE, ("timestamp",), queueing_lock="retry_stalled_jobs")
# Keeps the SSH audit log to its 90 days (shared.ssh.audit_log.RETENTION_DAYS).
SSH_AUDIT_RETENTION = JobSpec("ssh_audit_retention", MAINTENANCE, ("timestamp",), queueing_lock="ssh_audit_retention")

# --- relays ------------------------------------------------------------------------------------------


def relay_chat_lock(relay: str, chat_id: str) -> str:
    """The job lock of one external chat: its messages are processed one at a time, in arrival order."""
    return f"relay-chat:{relay}:{chat_id}"


# The lock is the external chat, which only intake sees (`relay_chat_lock`).
RELAY_PROCESS = JobSpec("relay_process", RELAYS, ("inbox_id",), lock=BY_CALLER)

# --- chat ------------------------------------------------------------------------------------------

CHAT = "chat"

# A web turn outliving its function, continued by a worker (shared/chat/handoff.py). Its own queue, so
# workers for long turns can be sized apart from the rest; ahead of other work, since a user is
# waiting and the bridge holds the run only so long. One per turn, waiting or running.
CONTINUE_TURN = JobSpec("continue_turn", CHAT,
                        ("turn_id", "bridge_after", "seq", "streamed_tokens", "reached_at", "held"),
                        priority=20, lock=lambda args: f"turn:{args['turn_id']}",
                        queueing_lock=lambda args: f"continue-turn:{args['turn_id']}")

# --- platform ----------------------------------------------------------------------------------------

# A version's staged rollout (shared/platform/rollout.py). On the lifecycle queue, beside the updates it
# defers; one pass at a time per version (the lock), one waiting at most (the queueing lock).
ROLLOUT_VERSION = JobSpec("rollout_version", LIFECYCLE, ("version_id",),
                          lock=lambda args: f"rollout:{args['version_id']}",
                          queueing_lock=lambda args: f"rollout-waiting:{args['version_id']}")

ALL: tuple[JobSpec, ...] = (
    PROVISION_INSTANCE, START_INSTANCE, STOP_INSTANCE, SUSPEND_INSTANCE, RESTART_INSTANCE, DESTROY_INSTANCE,
    UPDATE_INSTANCE, HEALTH_CHECK, HEALTH_PROBE, RECONCILE, IDLE_SHUTDOWN, REFILL_WARM_POOL, STRIPE_EVENT, REAP_TURNS,
    BILLING_AGGREGATE, PAYOUTS, SETTLE_MODEL_CALLS, RETRY_STALLED_JOBS, RELAY_PROCESS, CONTINUE_TURN, SSH_AUDIT_RETENTION,
    ROLLOUT_VERSION,
)
