"""SKILL.md front matter: the YAML block between the leading `---` lines (AgentSkills format).

A skill declares at least `name`, `description` and `permissions`; `permissions` is what §5c's
permissions hash covers. Only the standard library and `yaml` are imported (see the package doc).
"""

from __future__ import annotations

from typing import Any

import yaml

REQUIRED_FIELDS = ("name", "description", "permissions")


class FrontMatterError(ValueError):
    pass


def parse_front_matter(text: str | bytes) -> dict[str, Any]:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FrontMatterError("SKILL.md is not UTF-8") from exc
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise FrontMatterError("SKILL.md has no front matter (it must start with a '---' line)")
    for end in range(1, len(lines)):
        if lines[end].strip() == "---":
            break
    else:
        raise FrontMatterError("SKILL.md front matter is not closed by a '---' line")
    try:
        data = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        raise FrontMatterError(f"SKILL.md front matter is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise FrontMatterError("SKILL.md front matter must be a mapping")
    return data


def skill_manifest(skill_md: str | bytes) -> dict[str, Any]:
    """The front matter, checked for the required fields."""
    data = parse_front_matter(skill_md)
    missing = [f for f in REQUIRED_FIELDS if f not in data]
    if missing:
        raise FrontMatterError(f"SKILL.md front matter lacks {', '.join(missing)}")
    if not isinstance(data["name"], str) or not data["name"].strip():
        raise FrontMatterError("SKILL.md `name` must be a non-empty string")
    if not isinstance(data["description"], str):
        raise FrontMatterError("SKILL.md `description` must be a string")
    return data
