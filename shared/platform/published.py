"""The public facts of a listing's current version: the agent page's `current_version` (ARCHITECTURE §6).

Each skill carries exactly the §5c values — `permissions` as declared, `content_hash`,
`permissions_hash`, `signature` (base64url) and `key_id` — so any client can verify it with the key of
that id from `GET /api/platform/signing-keys`. Imported by the marketplace's cold path: pydantic only.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from shared.data import Row, Tx
from shared.models import Model


class PublishedSkill(Model):
    name: str
    description: str
    permissions: dict[str, Any]
    content_hash: str
    permissions_hash: str
    signature: str | None
    key_id: str | None


class CurrentVersion(Model):
    id: UUID
    version: str
    openclaw_version: str
    changelog: str
    published_at: datetime | None
    skills: list[PublishedSkill]


def current_version(tx: Tx, row: Row) -> CurrentVersion | None:
    """From an `agent_by_slug` row (its `current_version_*` columns), in the same transaction."""
    version_id = row.get("current_version_id")
    if version_id is None or row.get("current_version") is None:
        return None
    skills = tx.all("version_skills", version_id=version_id)
    return CurrentVersion(id=version_id, version=row["current_version"], openclaw_version=row["openclaw_version"] or "",
                          changelog=row.get("current_version_changelog") or "",
                          published_at=row.get("current_version_published_at"),
                          skills=[PublishedSkill.model_validate(s) for s in skills])
