"""Submit: the working draft is validated again, scanned, and then — in one transaction —

    no warning or critical finding   every skill signed (§5c) with the active key → version published
    a critical secret finding        rejected at once (publishing would leak it; the creator may appeal)
    any other warning or critical    `review`: an admin approves (→ the same publish step) or rejects

Publishing writes `agent_skills` + `skill_signatures`, replaces the version's bundle with what machines
receive (`{files: {path: base64}, signatures: {skill: {key_id, signature, content_hash,
permissions_hash}}}`, shared/lifecycle/bundle.py pushes it), supersedes the previously published
version (and older unpublished work, which could only roll the agent back), makes the version the
agent's current one (status `published`) and starts its rollout to the agent's live instances
(shared/platform/rollout.py). A version under review is never the current version, so discovery keeps
showing what was published before (or nothing).

Submit acts on the agent's newest unsubmitted (draft) version: the first bundle's, a replaced one's, or
one added with `POST …/versions`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from shared.auth import User
from shared.data import Row, Tx, get_db
from shared.platform import drafts, rollout, semver, signing
from shared.platform.bundle import Bundle
from shared.platform.models import Finding, SubmitResult
from shared.problems import conflict, not_found

if TYPE_CHECKING:
    from shared.platform import manifest


def _findings_json(findings: list[Finding]) -> str:
    return json.dumps([f.model_dump() for f in findings], separators=(",", ":"))


def valid_bundle(bundle_json: dict[str, Any]) -> manifest.ValidBundle:
    from shared.platform import manifest  # yaml and the models: first use only (cold start)

    return manifest.validate(Bundle.from_storage(bundle_json.get("files") or {}))


def publish_version(tx: Tx, *, version_id: Any, agent_id: Any, creator_id: Any, valid: manifest.ValidBundle,
                    findings: list[Finding], reason: str | None = None, signer: signing.Signer | None = None) -> None:
    """Signs every skill and publishes the version (the caller holds the version and agent row locks).
    `signer` is the active key's, registered in `tx` (default: SKILL_SIGNING_KEY's, `signing.active_signer`)."""
    signer = signer or signing.active_signer(tx)
    signatures: dict[str, dict[str, str]] = {}
    tx.execute("platform_skills_clear", version_id=version_id)
    for skill in valid.skills:
        sig = signer.sign(skill.files, skill.permissions)
        skill_id = tx.scalar("platform_skill_create", version_id=version_id, creator_id=creator_id, skill_name=skill.name,
                             description=skill.description, permissions=json.dumps(skill.permissions),
                             content_hash=sig.content_hash, permissions_hash=sig.permissions_hash)
        tx.execute("platform_signature_create", skill_id=skill_id, creator_id=creator_id, key_id=sig.key_id,
                   content_hash=sig.content_hash, permissions_hash=sig.permissions_hash, signature=sig.signature)
        signatures[skill.name] = sig.to_dict()
    bundle = {"files": valid.bundle.to_storage(), "signatures": signatures}
    tx.execute("platform_version_publish", version_id=version_id, bundle=json.dumps(bundle, separators=(",", ":")),
               findings=_findings_json(findings), reason=reason)
    tx.execute("platform_versions_supersede", agent_id=agent_id, version_id=version_id)
    tx.execute("platform_agent_apply_listing", agent_id=agent_id, **drafts.listing_params(valid))
    tx.execute("platform_agent_publish", agent_id=agent_id, version_id=version_id)
    tx.execute("platform_versions_retire_older", version_id=version_id)
    rollout.start(tx, agent_id=agent_id, version_id=version_id, creator_id=creator_id)


def _blocking_reason(findings: list[Finding]) -> str:
    from shared.platform import scan

    rules = sorted({f.rule for f in findings if f.severity == "critical" and scan.RULES_BY_ID[f.rule].blocks})
    return ("Rejected by the scan: the bundle holds secrets (" + ", ".join(rules) + "). Remove them and submit "
            "again, or appeal if they are not real.")


def submit(user: User, slug: str) -> SubmitResult:
    with get_db().service() as tx:
        return submit_in(tx, user.id, slug)


def submit_in(tx: Tx, creator_id: str, slug: str, *, signer: signing.Signer | None = None) -> SubmitResult:
    """Submit the newest unsubmitted version of the creator's agent, in `tx` (service role): what the
    route runs, and what the seed runs for its demo agents."""
    agent = tx.one("platform_agent_lock", slug=slug, creator_id=creator_id)
    if agent is None:
        raise not_found("agent")
    drafts.require_creator(tx, creator_id)
    draft = tx.one("platform_unsubmitted_version", agent_id=agent["id"])
    if draft is None:
        working = tx.one("platform_working_version", agent_id=agent["id"])
        if working is None:
            raise conflict("There is no draft to submit: upload a bundle first (or add a version with POST "
                           f"/api/platform/agents/{slug}/versions).", code="nothing-to-submit")
        hint = {"review": "it is waiting for review", "scanning": "it is being scanned",
                "rejected": "it was rejected: replace the bundle (PUT) or appeal"}.get(working["status"], "")
        raise conflict(f"The version cannot be submitted: {hint}.", code="not-submittable")
    current = tx.one("platform_current_version", agent_id=agent["id"])
    if current is not None and not semver.newer(draft["version"], current["version"]):
        # Another version published since this draft was made: publishing it would go backwards.
        raise conflict(f"Version {draft['version']} is not newer than the published {current['version']}: replace "
                       "the draft with a higher version (PUT).", code="version-not-newer")
    return _scan_and_decide(tx, agent, draft, creator_id, signer)


def _scan_and_decide(tx: Tx, agent: Row, working: Row, creator_id: str, signer: signing.Signer | None) -> SubmitResult:
    from shared.platform import scan  # its rules compile many patterns: first use only (cold start)

    valid = valid_bundle(working["bundle"] or {})
    findings = scan.scan(valid)
    status = scan.outcome(findings)
    version_id = working["id"]
    if status == "published":
        publish_version(tx, version_id=version_id, agent_id=agent["id"], creator_id=creator_id, valid=valid,
                        findings=findings, signer=signer)
    else:
        reason = _blocking_reason(findings) if status == "rejected" else None
        tx.execute("platform_version_flag", version_id=version_id, status=status, findings=_findings_json(findings),
                   reason=reason)
        tx.execute("platform_agent_set_status", agent_id=agent["id"], status=status)
        tx.execute("platform_decision_create", version_id=version_id, creator_id=creator_id,
                   decision="flagged" if status == "review" else "rejected", reason=reason or "", decided_by=None)
    return SubmitResult(version_id=version_id, status=status, findings=findings)
