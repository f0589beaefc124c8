"""Writing an agent version's files to an instance's machine: `PUT /v1/bundle` on its bridge
(ARCHITECTURE §5a), once the machine is up — at the end of provisioning (saga or warm-pool claim) and
of the update primitive.

The version is the one asked for, else the instance's (`agent_instances.version_id`), else the
agent's current one. Its `agent_versions.bundle` is `{files: {path: base64}, signatures: {skill:
{key_id, signature, …}}}`; a version without files is skipped. The request goes the way chat's does
(Fly's proxy, `fly-force-instance-id`, the instance's gateway token). Success records the version on
the instance. Failure raises: `BundleNotPushed` (the proxy or the bridge failed: the job retries) or
`BundleRejected` (the bridge refused the bundle: retrying cannot help). Skills the bridge refused are
logged; they do not fail the push (the bridge reports them in `/ready`).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from shared import logs
from shared.data import get_db
from shared.lifecycle.config import LifecycleConfig
from shared.lifecycle.errors import LifecycleError
from shared.lifecycle.probe import request_headers

log = logging.getLogger("openagents.lifecycle")

PUSH_TIMEOUT_S = 60.0  # bundles may be up to 32 MiB
_RETRYABLE_STATUS = frozenset({408, 425, 429})


class BundleNotPushed(LifecycleError):
    """The bundle did not reach the bridge (proxy or bridge failure): worth retrying."""


class BundleRejected(LifecycleError):
    """The bridge refused the bundle (4xx): the version's files need fixing, not another attempt."""


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
        with httpx.Client(trust_env=False, timeout=PUSH_TIMEOUT_S) as client:
            r = client.put(cfg.proxy_url(app) + "/v1/bundle", json=body, headers=request_headers(machine_id, token))
    except httpx.HTTPError as e:
        raise BundleNotPushed(f"the agent's files could not be sent ({type(e).__name__})") from e
    if r.status_code != 200:
        detail = _detail(r)
        if r.status_code >= 500 or r.status_code in _RETRYABLE_STATUS:
            raise BundleNotPushed(f"the agent's files could not be written ({r.status_code}: {detail})")
        raise BundleRejected(f"the agent's files were refused ({r.status_code}: {detail})")
    result = _json(r)
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


def _json(r: httpx.Response) -> dict[str, Any]:
    try:
        data = r.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _detail(r: httpx.Response) -> str:
    data = _json(r)
    return str(data.get("detail") or data.get("title") or r.reason_phrase or "")[:300]
