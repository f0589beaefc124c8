"""A creator's drafts: a bundle becomes a listing (`agents`, status `draft`) and its working version
(`agent_versions`, status `draft`, the bundle as `{files: {path: base64}}`).

- Create: creators and admins only (403 otherwise). The slug is `openagents.yaml`'s; someone else's
  slug → 409 `slug-taken`, one of your own → 409 `agent-exists` (replace it with PUT instead).
- Replace (PUT): only while the working version is a draft or was rejected (409 otherwise: in review,
  or published with nothing being worked on — new versions of a published agent come through
  `POST …/versions`, shared/platform/versions.py); the manifest's slug must stay the path's, and once
  the agent is published the version must stay newer than the current one. A rejected version becomes
  a draft again.
- Reads act as the creator (RLS): another user's slug is 404, like one that does not exist.

The listing's columns follow the manifest while the agent was never published; once published they
change only when a version publishes (shared/platform/publish).
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from shared.auth import User
from shared.config import PROJECT_ROOT
from shared.data import Row, Tx, acting_as, get_db
from shared.pagination import Page, PageQuery, decode_cursor, page_of
from shared.platform import bundle as bundles
from shared.platform import semver
from shared.platform.models import (
    Appeal,
    Decision,
    Draft,
    DraftSummary,
    FileEntry,
    Finding,
    Rollout,
    SkillEntry,
    VersionInfo,
    VersionSummary,
)
from shared.problems import conflict, forbidden, not_found

if TYPE_CHECKING:
    from shared.platform import manifest

WORKING = ("draft", "scanning", "review", "rejected")
EDITABLE = ("draft", "rejected")


@functools.cache
def base_openclaw_version() -> str:
    """The OpenClaw version of the machines' base image (its one pin, fly/agent/OPENCLAW_VERSION)."""
    pin = PROJECT_ROOT / "fly" / "agent" / "OPENCLAW_VERSION"
    try:
        return pin.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def require_creator(tx: Tx, user_id: str) -> None:
    if tx.scalar("platform_role", user_id=user_id) not in ("creator", "admin"):
        raise forbidden("Only creators can publish agents.")


def listing_params(valid: manifest.ValidBundle) -> dict[str, Any]:
    m = valid.listing
    return {"agent_name": m.name, "tagline": m.tagline, "description": valid.description, "category": m.category,
            "tags": list(dict.fromkeys(m.tags)), "pricing_model": m.pricing.model,
            "credits_price": m.pricing.credits or 0, "memory_mb": m.memory_mb,
            "relays": list(dict.fromkeys(m.relays)), "models": list(dict.fromkeys(m.models))}


def version_params(valid: manifest.ValidBundle) -> dict[str, Any]:
    return {"version": valid.listing.version, "changelog": valid.listing.changelog,
            "openclaw_version": base_openclaw_version(),
            "bundle": json.dumps({"files": valid.bundle.to_storage()}, separators=(",", ":"))}


def read_upload(content_type: str, raw: bytes) -> manifest.ValidBundle:
    from shared.platform import manifest  # yaml and the manifest models: first use only (cold start)

    return manifest.validate(bundles.from_upload(content_type, raw))


def create(user: User, content_type: str, raw: bytes) -> Draft:
    valid = read_upload(content_type, raw)
    with get_db().service() as tx:
        create_in(tx, user.id, valid)
    return get_mine(user, valid.listing.slug)


def create_in(tx: Tx, creator_id: str, valid: manifest.ValidBundle) -> Any:
    """A new draft agent with its working version, in `tx` (service role) → the agent's id (the route's
    path, and the seed's)."""
    slug = valid.listing.slug
    require_creator(tx, creator_id)
    agent_id = tx.scalar("platform_agent_create", creator_id=creator_id, slug=slug, **listing_params(valid))
    if agent_id is None:
        owner = tx.scalar("platform_slug_owner", slug=slug)
        if str(owner) == str(creator_id):
            raise conflict(f"You already have an agent with the slug {slug!r}: PUT "
                           f"/api/platform/agents/{slug} replaces its draft.", code="agent-exists")
        raise conflict(f"The slug {slug!r} belongs to another creator's agent; choose another one in "
                       "openagents.yaml.", code="slug-taken")
    tx.execute("platform_version_create", agent_id=agent_id, creator_id=creator_id, **version_params(valid))
    return agent_id


def require_newer(tx: Tx, agent_id: Any, valid: manifest.ValidBundle) -> None:
    """A published agent moves forward only: a new version's number is above the current one's (and not
    one the agent had before), 409 otherwise."""
    version = valid.listing.version
    current = tx.one("platform_current_version", agent_id=agent_id)
    if current is not None and not semver.newer(version, current["version"]):
        raise conflict(f"Version {version} is not newer than the published {current['version']}: raise `version` "
                       "in openagents.yaml.", code="version-not-newer",
                       errors=[{"file": "openagents.yaml", "line": valid.line_of("openagents.yaml", ["version"]),
                                "field": "version", "message": f"must be above {current['version']}"}])


def replace(user: User, slug: str, content_type: str, raw: bytes) -> Draft:
    valid = read_upload(content_type, raw)
    if valid.listing.slug != slug:
        raise bundles.BundleInvalid([bundles.issue(
            "openagents.yaml", f"the slug cannot change (this agent is {slug!r})",
            line=valid.line_of("openagents.yaml", ["slug"]), field="slug")])
    with get_db().service() as tx:
        agent = tx.one("platform_agent_lock", slug=slug, creator_id=user.id)
        if agent is None:
            raise not_found("agent")
        require_creator(tx, user.id)
        working = tx.one("platform_working_version", agent_id=agent["id"])
        require_newer(tx, agent["id"], valid)
        if working is None:
            if agent["status"] in ("published", "archived"):
                raise conflict("This agent is published: new bundles come as new versions "
                               f"(POST /api/platform/agents/{slug}/versions).", code="not-editable")
            tx.execute("platform_version_create", agent_id=agent["id"], creator_id=user.id, **version_params(valid))
        elif working["status"] not in EDITABLE:
            raise conflict(f"The version is {working['status']}: only drafts and rejected versions can be "
                           "replaced.", code="not-editable")
        else:
            tx.execute("platform_version_replace", version_id=working["id"], creator_id=user.id,
                       **version_params(valid))
        tx.execute("platform_agent_set_status", agent_id=agent["id"], status="draft")
        if agent["status"] in EDITABLE:
            tx.execute("platform_agent_apply_listing", agent_id=agent["id"], **listing_params(valid))
    return get_mine(user, slug)


def list_mine(user: User, query: PageQuery) -> Page[DraftSummary]:
    after = decode_cursor(query.cursor, ("created_at", "id"))
    with acting_as(user) as tx:
        rows = tx.all("platform_my_agents", after_created=after["created_at"] if after else None,
                      after_id=after["id"] if after else None, limit=query.limit + 1)
    return Page[DraftSummary](**page_of(rows, query.limit, ("created_at", "id"), DraftSummary))


def get_mine(user: User, slug: str) -> Draft:
    with acting_as(user) as tx:
        agent = tx.one("platform_my_agent", slug=slug)
        if agent is None:
            raise not_found("agent")
        version = tx.one("platform_shown_version", agent_id=agent["id"],
                         current_version_id=agent["current_version_id"])
        info = version_info(tx, version) if version is not None else None
        versions = [version_summary(r) for r in tx.all("platform_agent_versions", agent_id=agent["id"])]
    return Draft.model_validate({**agent, "version": info, "versions": versions})


def version_summary(row: Row) -> VersionSummary:
    rollout = None
    if row["rollout_status"] is not None:
        rollout = Rollout(status=row["rollout_status"], stage=row["rollout_stage"],
                          first_stage_percent=row["first_stage_percent"], started_at=row["rollout_started_at"],
                          stage_started_at=row["stage_started_at"], finished_at=row["rollout_finished_at"],
                          detail=row["rollout_detail"], stages=row["rollout_stages"] or [])
    return VersionSummary(id=row["id"], version=row["version"], status=row["status"], changelog=row["changelog"],
                          created_at=row["created_at"], submitted_at=row["submitted_at"],
                          published_at=row["published_at"], instances=row["instances"], rollout=rollout)


def skills_of(skill_docs: dict[str, str]) -> list[SkillEntry]:
    """The skill list from the versions' SKILL.md files (base64), as their front matter declares it."""
    from shared.skills.frontmatter import FrontMatterError, skill_manifest

    out = []
    for path in sorted(skill_docs):
        try:
            front = skill_manifest(bundles.Bundle.from_storage({path: skill_docs[path]}).files[path])
        except (FrontMatterError, ValueError):
            continue
        permissions = front.get("permissions")
        out.append(SkillEntry(name=path.split("/")[1], description=str(front.get("description") or ""),
                              permissions=permissions if isinstance(permissions, dict) else {}))
    return out


def decisions_of(tx: Tx, version_id: Any) -> list[Decision]:
    out = []
    for r in tx.all("platform_version_decisions", version_id=version_id):
        appeal = Appeal(id=r["appeal_id"], message=r["appeal_message"], created_at=r["appeal_created_at"]) \
            if r["appeal_id"] is not None else None
        out.append(Decision(id=r["id"], decision=r["decision"], reason=r["reason"], decided_by=r["decided_by"],
                            created_at=r["created_at"], appeal=appeal))
    return out


def version_info(tx: Tx, row: Row) -> VersionInfo:
    return VersionInfo(
        id=row["id"], version=row["version"], status=row["status"], openclaw_version=row["openclaw_version"],
        changelog=row["changelog"], findings=[Finding.model_validate(f) for f in row["findings"] or []],
        review_reason=row["review_reason"], created_at=row["created_at"], submitted_at=row["submitted_at"],
        published_at=row["published_at"], files=[FileEntry.model_validate(f) for f in row["files"] or []],
        skills=skills_of(row["skill_docs"] or {}), decisions=decisions_of(tx, row["id"]))
