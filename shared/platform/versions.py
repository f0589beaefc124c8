"""New versions of a published agent, and archiving one (ARCHITECTURE §5 "Publish", §6 platform paths).

- `POST /api/platform/agents/{slug}/versions` takes a bundle like `POST /api/platform/agents` and adds
  it to a published agent as a draft version (201 with the agent, as `GET` shows it). Its slug must
  be the agent's and its `version` above the current one (409 `version-not-newer`); while a draft
  version exists another is refused (409 `draft-exists`: PUT replaces it, submit hands it in). An
  agent that was never published has no versions to add (409: PUT replaces its draft); an archived
  one takes none (409 `archived`). Then `POST …/submit` scans it as usual; once it publishes — clean,
  or approved by an admin — its rollout updates the agent's instances in stages
  (shared/platform/rollout.py). The listing keeps showing the current version until then.
- `POST /api/platform/agents/{slug}/archive` takes a published agent out of discovery (search, pages,
  collections, new hires: 404), while its instances keep running, chatting and updating; archiving an
  archived agent changes nothing. There is no way back through the API: an operator sets the status
  to `published` again if a creator asks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.auth import User
from shared.data import Tx, get_db
from shared.platform import bundle as bundles
from shared.platform import drafts
from shared.platform.models import Draft
from shared.problems import conflict, not_found

if TYPE_CHECKING:
    from shared.platform import manifest


def add_version(user: User, slug: str, content_type: str, raw: bytes) -> Draft:
    valid = drafts.read_upload(content_type, raw)
    with get_db().service() as tx:
        add_version_in(tx, user.id, slug, valid)
    return drafts.get_mine(user, slug)


def add_version_in(tx: Tx, creator_id: str, slug: str, valid: manifest.ValidBundle) -> None:
    """The bundle as a new draft version of the creator's published agent, in `tx` (service role)."""
    if valid.listing.slug != slug:
        raise bundles.BundleInvalid([bundles.issue(
            "openagents.yaml", f"the slug cannot change (this agent is {slug!r})",
            line=valid.line_of("openagents.yaml", ["slug"]), field="slug")])
    agent = tx.one("platform_agent_lock", slug=slug, creator_id=creator_id)
    if agent is None:
        raise not_found("agent")
    drafts.require_creator(tx, creator_id)
    if agent["status"] == "archived":
        raise conflict("This agent is archived: it takes no new versions.", code="archived")
    if agent["status"] != "published":
        raise conflict(f"This agent is not published yet: PUT /api/platform/agents/{slug} replaces its draft.",
                       code="not-published")
    if tx.one("platform_unsubmitted_version", agent_id=agent["id"]) is not None:
        raise conflict(f"A draft version is waiting: submit it (POST /api/platform/agents/{slug}/submit) or "
                       f"replace it (PUT /api/platform/agents/{slug}).", code="draft-exists")
    drafts.require_newer(tx, agent["id"], valid)
    if tx.scalar("platform_version_taken", agent_id=agent["id"], version=valid.listing.version):
        raise conflict(f"This agent already had a version {valid.listing.version}: raise `version` in "
                       "openagents.yaml.", code="version-exists")
    tx.execute("platform_version_create", agent_id=agent["id"], creator_id=creator_id,
               **drafts.version_params(valid))


def archive(user: User, slug: str) -> Draft:
    with get_db().service() as tx:
        agent = tx.one("platform_agent_lock", slug=slug, creator_id=user.id)
        if agent is None:
            raise not_found("agent")
        drafts.require_creator(tx, user.id)
        if agent["status"] not in ("published", "archived"):
            raise conflict("Only a published agent can be archived (a draft can simply be left alone).",
                           code="not-published")
        if agent["status"] == "published":
            tx.execute("platform_agent_archive", agent_id=agent["id"])
            from shared import audit

            audit.record(tx, user.id, "agent.archived", f"agent:{agent['id']}", {"slug": slug})
    return drafts.get_mine(user, slug)
