"""The review queue (admins), decisions, and appeals (creators).

- `GET /api/admin/reviews`: versions in `review`, oldest submission first, with their findings, files,
  skills and decision history (appeals included). Admins only (403), read acting as the admin.
- `POST /api/admin/reviews/{version_id} {decision, reason}`: only a version in `review` (409 otherwise).
  `approve` signs and publishes it (shared/platform/publish); `reject` needs a reason and leaves it
  `rejected` (a never-published agent becomes `rejected` too). The creator gets a notification.
- `POST /api/platform/agents/{slug}/appeal {message}`: appeals the latest decision on the working
  version (the scan's flag or rejection, or an admin's rejection) — once per decision (409 the second
  time, enforced by a unique key). A rejected version goes back to `review` (the queue's end); a
  flagged one stays there with the creator's message beside it. Admins are notified.
"""

from __future__ import annotations

import json
from typing import Any

from shared.auth import User
from shared.data import acting_as, get_db
from shared.pagination import Page, decode_cursor, encode_cursor
from shared.platform import drafts, publish
from shared.platform.models import (
    AppealBody,
    AppealResult,
    FileEntry,
    Finding,
    ReviewAgent,
    ReviewCreator,
    ReviewDecisionBody,
    ReviewItem,
    ReviewOutcome,
    ReviewQuery,
)
from shared.problems import Problem, conflict, forbidden, not_found


def require_admin(user: User) -> None:
    with acting_as(user) as tx:
        if not tx.scalar("platform_is_admin"):
            raise forbidden("Only admins review versions.")


def queue(user: User, query: ReviewQuery) -> Page[ReviewItem]:
    after = decode_cursor(query.cursor, ("submitted_at", "id"))  # malformed input is a 400 for anyone
    require_admin(user)
    with acting_as(user) as tx:
        rows = tx.all("platform_review_queue", after_submitted=after["submitted_at"] if after else None,
                      after_id=after["id"] if after else None, limit=query.limit + 1)
        items = [ReviewItem(
            version_id=r["version_id"], version=r["version"],
            agent=ReviewAgent(id=r["agent_id"], slug=r["slug"], name=r["name"], status=r["agent_status"]),
            creator=ReviewCreator(id=r["creator_id"], name=r["creator_name"]), submitted_at=r["submitted_at"],
            findings=[Finding.model_validate(f) for f in r["findings"] or []],
            files=[FileEntry.model_validate(f) for f in r["files"] or []],
            skills=drafts.skills_of(r["skill_docs"] or {}), decisions=drafts.decisions_of(tx, r["version_id"]),
        ) for r in rows[: query.limit]]
    last = items[-1] if items else None
    cursor = encode_cursor({"submitted_at": last.submitted_at.isoformat() if last.submitted_at else None,
                            "id": str(last.version_id)}) if len(rows) > query.limit and last else None
    return Page[ReviewItem](items=items, next_cursor=cursor)


def _notify(tx: Any, user_id: Any, kind: str, title: str, body: str, data: dict[str, Any]) -> None:
    tx.execute("platform_notify", user_id=user_id, kind=kind, title=title, body=body, data=json.dumps(data))


def decide(user: User, version_id: str, body: ReviewDecisionBody) -> ReviewOutcome:
    require_admin(user)
    reason = body.reason.strip()
    if body.decision == "reject" and not reason:
        raise Problem(422, "Unprocessable Content", "A rejection needs a reason the creator can act on.",
                      code="validation-failed", errors=[{"loc": ["body", "reason"], "msg": "required to reject",
                                                         "type": "missing"}])
    with get_db().service() as tx:
        version = tx.one("platform_version_lock", version_id=version_id)
        if version is None:
            raise not_found("version")
        if version["status"] != "review":
            raise conflict(f"The version is {version['status']}, not waiting for review.", code="not-in-review")
        data = {"agent": version["slug"], "version_id": str(version["id"]), "version": version["version"]}
        if body.decision == "approve":
            findings = [Finding.model_validate(f) for f in version["scan_findings"] or []]
            publish.publish_version(tx, version_id=version["id"], agent_id=version["agent_id"],
                                    creator_id=version["creator_id"], valid=publish.valid_bundle(version["bundle"] or {}),
                                    findings=findings, reason=reason or None)
            status, decision = "published", "approved"
            _notify(tx, version["creator_id"], "review.approved", f"{version['name']} {version['version']} is published",
                    reason or "An admin reviewed the findings and approved the version.", data)
        else:
            tx.execute("platform_version_reject", version_id=version["id"], reason=reason)
            tx.execute("platform_agent_set_status", agent_id=version["agent_id"], status="rejected")
            status, decision = "rejected", "rejected"
            _notify(tx, version["creator_id"], "review.rejected", f"{version['name']} {version['version']} was rejected",
                    reason, {**data, "appeal": f"/api/platform/agents/{version['slug']}/appeal"})
        decision_id = tx.scalar("platform_decision_create", version_id=version["id"], creator_id=version["creator_id"],
                                decision=decision, reason=reason, decided_by=user.id)
        from shared import audit

        audit.record(tx, user.id, "review.decided", f"version:{version['id']}",
                     {**data, "decision": decision, "creator_id": version["creator_id"], "decision_id": decision_id})
    return ReviewOutcome(version_id=version["id"], status=status, decision_id=decision_id)


def appeal(user: User, slug: str, body: AppealBody) -> AppealResult:
    message = body.message.strip()
    if not message:
        raise Problem(422, "Unprocessable Content", "Say why the decision should change.", code="validation-failed")
    with get_db().service() as tx:
        agent = tx.one("platform_agent_lock", slug=slug, creator_id=user.id)
        if agent is None:
            raise not_found("agent")
        working = tx.one("platform_appealable_version", agent_id=agent["id"])  # a newer draft may exist
        if working is None or working["status"] not in ("review", "rejected"):
            raise conflict("There is no decision to appeal: only versions in review or rejected can be appealed.",
                           code="nothing-to-appeal")
        latest = tx.one("platform_latest_decision", version_id=working["id"])
        if latest is None:
            raise conflict("There is no decision to appeal yet.", code="nothing-to-appeal")
        created = tx.one("platform_appeal_create", decision_id=latest["id"], version_id=working["id"],
                         creator_id=user.id, message=message)
        if created is None:
            raise conflict("You already appealed this decision; wait for the next one.", code="already-appealed")
        status = working["status"]
        if status == "rejected":
            tx.execute("platform_version_reopen", version_id=working["id"])
            tx.execute("platform_agent_set_status", agent_id=agent["id"], status="review")
            status = "review"
        tx.execute("platform_notify_admins", kind="review.appeal", title=f"Appeal: {agent['name']} {working['version']}",
                   body=message[:4000], data=json.dumps({"agent": slug, "version_id": str(working["id"])}))
    return AppealResult(id=created["id"], version_id=working["id"], decision_id=latest["id"], status=status,
                        message=message, created_at=created["created_at"])
