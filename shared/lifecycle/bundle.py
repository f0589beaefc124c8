"""Writing an agent version's files to an instance's machine: `PUT /v1/bundle` on its bridge
(ARCHITECTURE §5a), once the machine is up — at the end of provisioning (saga or warm-pool claim) and
of the update primitive.

The version is the one asked for, else the instance's (`agent_instances.version_id`), else the
agent's current one. Its `agent_versions.bundle` is `{files: {path: base64}, signatures: {skill:
{key_id, signature, …}}}`; a version without files is skipped. The request is the bridge client's
(`shared.bridge.client`: Fly's proxy, `fly-force-instance-id`, the instance's gateway token). Success records the version on
the instance. Failure raises: `BundleNotPushed` (the proxy or the bridge failed: the job retries) or
`BundleRejected` (the bridge refused the bundle: retrying cannot help). Skills the bridge refused are
logged; they do not fail the push (the bridge reports them in `/ready`).
"""

from __future__ import annotations

import logging
from typing import Any

from shared import logs
from shared.bridge.client import BridgeRefused, BridgeUnavailable, bridge_client
from shared.bridge.target import MachineTarget
from shared.data import get_db
from shared.lifecycle.config import LifecycleConfig
from shared.lifecycle.errors import BundleNotPushed, BundleRejected

log = logging.getLogger("openagents.lifecycle")


def version_bundle(instance_id: str, version_id: str | None = None) -> tuple[str, dict[str, Any]] | None:
    """(version id, push body) for the instance, or None when there is no version or it has no files."""
    with get_db().service() as tx:
        row = tx.one("instance_bundle", id=str(instance_id), version_id=version_id)
    if row is None:
        return None
    bundle = row["bundle"] or {}
    files = bundle.get("files") or {}
    if not files:
        return None
    version = str(row["version_id"])
    from shared.security import canary

    files = canary.plant(str(instance_id), files)  # the prompt-injection tripwire, in AGENTS.md
    return version, {"version": version, "files": files, "signatures": bundle.get("signatures") or {}}


def push_bundle(cfg: LifecycleConfig, instance_id: str, app: str, machine_id: str, token: str | None, *,
                version_id: str | None = None) -> str | None:
    """Push the version's files to the (started, ready) machine; the version pushed, or None (nothing
    to push: an explicitly asked version is still recorded)."""
    found = version_bundle(instance_id, version_id)
    if found is None:
        if version_id:
            _record(instance_id, version_id)
        return None
    version, body = found
    try:
        result = bridge_client().push_bundle(MachineTarget(str(instance_id), app, machine_id, token or ""), body)
    except BridgeUnavailable as e:
        raise BundleNotPushed(f"the agent's files could not be sent ({e.detail})") from e
    except BridgeRefused as e:
        detail = e.detail or e.title
        if e.retryable:
            raise BundleNotPushed(f"the agent's files could not be written ({e.status}: {detail})") from e
        raise BundleRejected(f"the agent's files were refused ({e.status}: {detail})") from e
    skills = result.get("skills") or {}
    refused = skills.get("refused") or []
    files = result.get("files") or {}
    logs.log(log, logging.WARNING if refused else logging.INFO, "bundle pushed", instance_id=instance_id,
             version_id=version, written=len(files.get("written") or []), kept=len(files.get("kept") or []),
             skills_installed=len(skills.get("installed") or []),
             skills_refused=[s.get("name") for s in refused if isinstance(s, dict)])
    _record(instance_id, version)
    return version


def _record(instance_id: str, version_id: str) -> None:
    with get_db().service() as tx:
        tx.execute("instance_set_version", id=str(instance_id), version_id=version_id)
