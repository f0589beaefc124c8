"""The bundle's manifests as pydantic models, validated with errors that point at file, line and field.

    openagents.yaml   listing metadata (ARCHITECTURE §5a, keys fixed, more allowed): slug, name, tagline,
                      category, tags, pricing {model, credits (omitted when free)}; optional memory_mb,
                      relays, models; ours: description (else README.md), version (semver, default
                      1.0.0), changelog
    agent.yaml        name, description, model {default}; optional tools
    skills/<name>/SKILL.md   front matter with name (= the folder's name), description, permissions
                      {network: [hosts], exec: [commands], filesystem: [paths]} (each list optional,
                      nothing else allowed: a misspelt permission must not pass unnoticed)

A skill's `permissions` are kept exactly as YAML loaded them: that value is what §5c's permissions hash
covers, and what the machine's bridge recomputes from the same SKILL.md (shared/skills/frontmatter.py);
validating it here means it is only ever lists of strings, so it always has a canonical JSON form.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from shared.platform import yamldoc
from shared.platform.bundle import Bundle, BundleInvalid, issue
from shared.platform.models import BundleIssue

SLUG = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
CATEGORY = r"^[a-z0-9-]{1,40}$"
SEMVER = r"^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$"
SKILL_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
MAX_SKILLS = 50
MAX_CREDITS = 10_000  # agents_credits_price_bounds

_HINTS = {
    "slug": "lowercase letters, digits and '-', at most 64 characters, not starting or ending with '-'",
    "category": "lowercase letters, digits and '-', at most 40 characters",
    "version": "a semantic version such as 1.2.0 (quote it in YAML: version: \"1.2.0\")",
    "name": "lowercase letters, digits, '_' and '-', at most 64 characters, starting with a letter or digit",
}

Text = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f]+$")]
ModelId = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^\S+$")]
PermissionEntry = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$")]
Relay = Literal["telegram", "whatsapp", "slack", "discord"]


class Pricing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: Literal["free", "per_session", "per_task"]
    credits: int | None = Field(default=None, ge=1, le=MAX_CREDITS)


class ListingManifest(BaseModel):
    """openagents.yaml."""
    model_config = ConfigDict(extra="allow")
    slug: str = Field(pattern=SLUG)
    name: str = Field(min_length=1, max_length=80)
    tagline: str = Field(max_length=160)
    category: str = Field(pattern=CATEGORY)
    tags: list[Tag] = Field(max_length=20)
    pricing: Pricing
    memory_mb: int = Field(default=2048, ge=512, le=16384)
    relays: list[Relay] = Field(default_factory=list)
    models: list[ModelId] = Field(default_factory=list, max_length=20)
    description: str | None = Field(default=None, max_length=20000)
    version: str = Field(default="1.0.0", pattern=SEMVER)
    changelog: str = Field(default="", max_length=10000)


class ModelDefaults(BaseModel):
    model_config = ConfigDict(extra="allow")
    default: Text


class AgentManifest(BaseModel):
    """agent.yaml."""
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=80)
    description: str = Field(max_length=2000)
    model: ModelDefaults
    tools: Any = None


class Permissions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    network: list[PermissionEntry] = Field(default_factory=list, max_length=100)
    exec: list[PermissionEntry] = Field(default_factory=list, max_length=100)
    filesystem: list[PermissionEntry] = Field(default_factory=list, max_length=100)


class SkillManifest(BaseModel):
    """A skill's SKILL.md front matter."""
    model_config = ConfigDict(extra="allow")
    name: str = Field(pattern=SKILL_NAME)
    description: str = Field(min_length=1, max_length=1024)
    permissions: Permissions


@dataclass
class Skill:
    name: str
    description: str
    permissions: dict[str, Any]  # as loaded: what gets signed
    declared: Permissions
    files: dict[str, bytes]  # relative to the skill folder


@dataclass
class ValidBundle:
    bundle: Bundle
    listing: ListingManifest
    agent: AgentManifest
    description: str
    skills: list[Skill]
    docs: dict[str, yamldoc.YamlDoc] = field(default_factory=dict)

    def line_of(self, file: str, loc: Sequence[str | int]) -> int | None:
        doc = self.docs.get(file)
        return doc.line_of(loc) if doc is not None else None


def _field(loc: Sequence[str | int]) -> str | None:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


def _validation_issues(file: str, doc: yamldoc.YamlDoc, exc: ValidationError) -> list[BundleIssue]:
    issues = []
    for e in exc.errors(include_input=False, include_url=False):
        loc = [p for p in e["loc"] if isinstance(p, str | int)]
        message = e["msg"]
        if e["type"] == "string_pattern_mismatch" and loc and str(loc[-1]) in _HINTS:
            message = f"must be {_HINTS[str(loc[-1])]}"
        elif e["type"] == "missing":
            message = "required"
        elif e["type"] == "extra_forbidden":
            message = "not an allowed key here"
        issues.append(issue(file, message, line=doc.line_of(loc), field=_field(loc)))
    return issues


def _text(bundle: Bundle, path: str, issues: list[BundleIssue], *, required: bool) -> str | None:
    if path not in bundle.files:
        if required:
            issues.append(issue(path, "the bundle needs this file"))
        return None
    text = bundle.text(path)
    if text is None:
        issues.append(issue(path, "the file is not UTF-8 text"))
    return text


def _model[M: BaseModel](path: str, text: str, model: type[M], issues: list[BundleIssue],
                         docs: dict[str, yamldoc.YamlDoc], *, first_line: int = 1) -> M | None:
    try:
        doc = yamldoc.load(text, first_line=first_line)
    except yamldoc.YamlError as exc:
        issues.append(issue(path, exc.message, line=exc.line))
        return None
    docs[path] = doc
    if not isinstance(doc.data, dict):
        issues.append(issue(path, "must be a YAML mapping (key: value lines)", line=first_line))
        return None
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        issues.extend(_validation_issues(path, doc, exc))
        return None


def _front_matter(text: str) -> tuple[str, int] | str:
    """(YAML text, its first file line) or why there is none; the same reading as the bridge's."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return "SKILL.md must start with a '---' line opening its front matter"
    for end in range(1, len(lines)):
        if lines[end].strip() == "---":
            return "\n".join(lines[1:end]), 2
    return "the front matter is not closed by a '---' line"


def _skill(bundle: Bundle, name: str, issues: list[BundleIssue], docs: dict[str, yamldoc.YamlDoc]) -> Skill | None:
    from shared.skills.frontmatter import FrontMatterError, skill_manifest

    folder = f"skills/{name}"
    if not re.match(SKILL_NAME, name):
        issues.append(issue(f"{folder}/", f"a skill's folder name must be {_HINTS['name']}", field="name"))
        return None
    path = f"{folder}/SKILL.md"
    text = _text(bundle, path, issues, required=True)
    if text is None:
        return None
    found = _front_matter(text)
    if isinstance(found, str):
        issues.append(issue(path, found, line=1))
        return None
    yaml_text, first_line = found
    before = len(issues)
    manifest = _model(path, yaml_text, SkillManifest, issues, docs, first_line=first_line)
    if manifest is None or len(issues) > before:
        return None
    doc = docs[path]
    if manifest.name != name:
        issues.append(issue(path, f"the skill is named {manifest.name!r} but its folder is {name!r}",
                            line=doc.line_of(["name"]), field="name"))
        return None
    permissions = doc.data["permissions"]
    try:  # what the machine will read: it must agree with what gets signed
        machine_view = skill_manifest(bundle.files[path])
    except FrontMatterError as exc:
        issues.append(issue(path, str(exc), line=1))
        return None
    if machine_view.get("permissions") != permissions:
        issues.append(issue(path, "the front matter reads differently on the machine; simplify its YAML",
                            line=doc.line_of(["permissions"]), field="permissions"))
        return None
    return Skill(name=name, description=manifest.description, permissions=permissions,
                 declared=manifest.permissions, files=bundle.skill_files(name))


def validate(bundle: Bundle) -> ValidBundle:
    """The bundle's manifests checked; raises BundleInvalid with every problem found."""
    issues: list[BundleIssue] = []
    docs: dict[str, yamldoc.YamlDoc] = {}
    listing_text = _text(bundle, "openagents.yaml", issues, required=True)
    agent_text = _text(bundle, "agent.yaml", issues, required=True)
    readme = _text(bundle, "README.md", issues, required=False)
    listing = _model("openagents.yaml", listing_text, ListingManifest, issues, docs) if listing_text is not None else None
    agent = _model("agent.yaml", agent_text, AgentManifest, issues, docs) if agent_text is not None else None

    doc = docs.get("openagents.yaml")
    pricing = doc.data.get("pricing") if doc is not None and isinstance(doc.data, dict) else None
    if isinstance(pricing, dict) and pricing.get("model") in ("free", "per_session", "per_task"):
        # Checked on what was written, so it is reported beside the listing's other errors.
        has_credits = pricing.get("credits") is not None
        line = doc.line_of(["pricing", "credits"]) if doc is not None else None
        if pricing["model"] == "free" and has_credits:
            issues.append(issue("openagents.yaml", "omit credits when the pricing model is free", line=line,
                                field="pricing.credits"))
        elif pricing["model"] != "free" and not has_credits:
            issues.append(issue("openagents.yaml", f"{pricing['model']} pricing needs credits (1–{MAX_CREDITS})",
                                line=line, field="pricing.credits"))
    description = ""
    if listing is not None:
        description = listing.description if listing.description is not None else (readme or "")
        if "\x00" in description:  # Postgres text cannot hold NUL
            issues.append(issue("README.md" if listing.description is None else "openagents.yaml",
                                "the description contains a NUL character", field="description"))
        elif listing.description is None and len(description) > 20000:
            issues.append(issue("README.md", "the README, used as the listing's description, is longer than "
                                             "20000 characters; set `description` in openagents.yaml"))

    names = bundle.skill_names()
    if len(names) > MAX_SKILLS:
        issues.append(issue("skills/", f"a bundle holds at most {MAX_SKILLS} skills"))
        names = []
    skills = [s for s in (_skill(bundle, n, issues, docs) for n in names) if s is not None]
    if issues or listing is None or agent is None:
        raise BundleInvalid(issues)
    return ValidBundle(bundle=bundle, listing=listing, agent=agent, description=description, skills=skills, docs=docs)
