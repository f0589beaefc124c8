"""The demo agents go through the creator pipeline (`openagents db seed`, and the dev stack's start).

Each agent of `seed_agents.AGENTS` becomes a real bundle (`openagents.yaml`, `agent.yaml`, `README.md`,
`workspace/SOUL.md`, `AGENTS.md`, `IDENTITY.md`, `skills/<name>/SKILL.md`), read like an upload
(`bundle.from_upload`, the manifests validated), created as its creator's draft, and submitted: the
same scan, signing (§5c) and publish steps a creator's upload takes. A seed agent must scan clean; one
that does not fails the seed loudly (`SeedError`), since a demo agent waiting for review helps nobody.
`seed_agents.DRAFT` is created and left a draft.

Idempotent: an agent whose slug exists is left as it is — except a published demo listing without a
version (what the SQL-only seed of earlier checkouts made), which gets its bundle as a new version
through the same path. Re-running therefore changes nothing once every demo agent has a version.

Signing key: `signing_key` if given (`<key_id>:<base64url key>`), else SKILL_SIGNING_KEY (in `dev` the
generated local one). With neither, and no active key registered yet, outside production, the seed
signs with a key it generates and registers (logged): machines get their keys from `signing_keys`, so
those skills verify; the first configured key becomes the active one later, and this one stays listed
as retired. Anything else without a usable key is a `SeedError`.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from shared import logs
from shared.data import Database, Tx, get_db
from shared.platform import drafts, publish, signing, versions
from shared.platform.seed_agents import AGENTS, CREATOR_NAMES, DRAFT, MODELS, SeedAgent, SeedSkill

log = logging.getLogger("openagents.platform.seed")


class SeedError(RuntimeError):
    """A demo agent could not go through the pipeline (the message says which and why)."""


@dataclass
class SeedReport:
    published: list[str] = field(default_factory=list)
    versioned: list[str] = field(default_factory=list)  # existing listings that got their first version
    drafts: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.published)} agents published, {len(self.versioned)} given a version, "
                f"{len(self.drafts)} drafts, {len(self.kept)} kept")


# --- bundles ---------------------------------------------------------------------------------------

def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def skill_md(skill: SeedSkill) -> str:
    front = _yaml({"name": skill.name, "description": skill.description, "permissions": skill.permissions})
    title = skill.name.replace("-", " ").capitalize()
    steps = "\n".join(f"{i}. {step}" for i, step in enumerate(skill.steps, 1))
    return f"---\n{front}---\n\n# {title}\n\n{skill.description}.\n\n## Steps\n\n{steps}\n"


def bundle_files(agent: SeedAgent, version: str = "1.0.0") -> dict[str, str]:
    """The agent's bundle: bundle path → text (the §5a layout)."""
    listing: dict[str, Any] = {
        "slug": agent.slug, "name": agent.name, "tagline": agent.tagline, "category": agent.category,
        "tags": list(agent.tags), "pricing": agent.pricing_manifest, "relays": list(agent.relays),
        "models": list(MODELS), "version": version, "changelog": "First release.",
    }
    skills_list = "\n".join(f"- **{s.name}**: {s.description}." for s in agent.skills)
    approach = "\n".join(f"- {line}" for line in agent.approach)
    files = {
        "openagents.yaml": _yaml(listing),
        "agent.yaml": _yaml({"name": agent.name, "description": agent.tagline, "model": {"default": MODELS[0]}}),
        "README.md": f"# {agent.name}\n{agent.summary}\n",
        "workspace/SOUL.md": (f"# Soul\n\n{agent.persona}\n\n## What matters\n\n- Be useful first: answer the "
                              "question that was asked.\n- Say when you are unsure; never invent names, facts "
                              "or numbers.\n- Keep what the user shares in this workspace.\n"),
        "workspace/AGENTS.md": (f"# How {agent.name} works\n\n{approach}\n\n## Skills\n\n{skills_list}\n\n"
                                "## Ground rules\n\n- Ask before acting on the user's behalf outside this chat.\n"
                                "- Keep notes the user may want later in the workspace.\n"),
        "workspace/IDENTITY.md": (f"# Identity\n\n- **Name:** {agent.name}\n- **Emoji:** {agent.emoji}\n"
                                  f"- **Role:** {agent.tagline}\n- **Made by:** {CREATOR_NAMES[agent.creator]}, "
                                  "on OpenAgents\n"),
    }
    for skill in agent.skills:
        files[f"skills/{skill.name}/SKILL.md"] = skill_md(skill)
    return files


def upload_body(files: dict[str, str]) -> bytes:
    """The bundle as a creator's JSON upload (`POST /api/platform/agents`)."""
    return json.dumps({"bundle": {"files": {p: {"base64": base64.b64encode(t.encode()).decode()}
                                            for p, t in files.items()}}}).encode()


# --- the pipeline ----------------------------------------------------------------------------------

def _signer(tx: Tx, signing_key: str | None) -> signing.Signer:
    """The active signer for the seed, registered in `tx`."""
    from shared.config import get_settings
    from shared.problems import Problem

    if signing_key:
        signer, status = signing.register(tx, signing.signer_from(signing_key))
        if status != "active":
            raise SeedError("the seed's signing key was retired; give it a new key")
        return signer
    try:
        return signing.active_signer(tx)
    except Problem as exc:
        reason = exc.detail
    if get_settings().is_production or tx.scalar("seed_active_signing_key") is not None:
        raise SeedError(f"cannot sign the demo agents' skills: {reason} Configure SKILL_SIGNING_KEY.")
    signer, _ = signing.register(tx, signing.signer_from(signing.new_private_key()))
    logs.log(log, logging.WARNING, "seed signed with a generated key (SKILL_SIGNING_KEY is not usable)",
             key_id=signer.key_id, reason=reason)
    return signer


def _database(url: str | None) -> tuple[Database, bool]:
    """The process's database when it is the one asked for, else a small one of our own (closed after)."""
    try:
        db = get_db()
    except RuntimeError:
        db = None
    if db is not None and (url is None or db.url == url):
        return db, False
    if url is None:
        raise SeedError("no database to seed (DATABASE_URL is not set)")
    return Database(url, max_size=2), True


def seed_agents(url: str | None = None, *, signing_key: str | None = None) -> SeedReport:
    """Publish every demo agent that is missing (see the module doc); what was done."""
    from shared.platform.bundle import BundleInvalid

    report = SeedReport()
    db, own = _database(url)
    try:
        with db.service() as tx:
            state = {r["slug"]: r for r in tx.all("seed_agents_state", slugs=[a.slug for a in (*AGENTS, DRAFT)])}
        todo = [a for a in AGENTS if _needs_version(state.get(a.slug), a)]
        report.kept = [slug for slug in state if slug not in {a.slug for a in todo}]
        if not todo and DRAFT.slug in state:
            return report
        signer = None
        if todo:
            with db.service() as tx:
                signer = _signer(tx, signing_key)
        for agent in todo:
            existing = state.get(agent.slug)
            try:
                valid = drafts.read_upload("application/json", upload_body(bundle_files(agent)))
            except BundleInvalid as exc:
                raise SeedError(f"the demo agent {agent.slug!r} is not a valid bundle: {exc.issues}") from None
            with db.service() as tx:
                if existing is None:
                    agent_id = drafts.create_in(tx, agent.creator, valid)
                else:
                    agent_id = existing["id"]
                    versions.add_version_in(tx, agent.creator, agent.slug, valid)
                result = publish.submit_in(tx, agent.creator, agent.slug, signer=signer)
                if result.status != "published":
                    found = "; ".join(f"{f.rule} {f.file}:{f.line}" for f in result.findings)
                    raise SeedError(f"the demo agent {agent.slug!r} did not scan clean ({result.status}: {found})")
                if existing is None:
                    tx.execute("seed_listing_stats", agent_id=agent_id, hires=agent.hires, days_ago=agent.days_ago)
            (report.published if existing is None else report.versioned).append(agent.slug)
        if DRAFT.slug not in state:
            valid = drafts.read_upload("application/json", upload_body(bundle_files(DRAFT, version="0.1.0")))
            with db.service() as tx:
                drafts.create_in(tx, DRAFT.creator, valid)
            report.drafts.append(DRAFT.slug)
    finally:
        if own:
            db.close()
    logs.log(log, logging.INFO, "demo agents seeded", published=len(report.published),
             versioned=len(report.versioned), drafts=len(report.drafts), kept=len(report.kept))
    return report


def _needs_version(row: Any, agent: SeedAgent) -> bool:
    if row is None:
        return True
    # A listing the SQL-only seed made: published by its demo creator, never given a version.
    return (row["status"] == "published" and row["current_version_id"] is None
            and str(row["creator_id"]) == agent.creator)
