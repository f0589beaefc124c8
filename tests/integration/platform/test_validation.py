"""Validation errors point at the file, the 1-based line and the field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.harness import assert_problem
from tests.support.platform_bundles import AGENT_YAML, agent_files, skill_md, slug, upload

LISTING = """slug: {slug}
name: Checked agent
tagline: Validates
category: testing
tags: [a, b]
pricing:
  model: per_task
memory_mb: 128
relays: [telegram, carrier-pigeon]
version: 1.0
"""

SKILL_WITH_TYPO = """---
name: fetcher
description: Fetches things
permissions:
  network: [api.openagents.dev]
  netwrok: [evil.example.org]
---
# fetcher
"""


def _where(resp: Any) -> set[tuple[str | None, int | None, str | None]]:
    body = assert_problem(resp, 422)
    assert body["type"].endswith("/bundle-invalid")
    for e in body["errors"]:
        assert e["message"]
    return {(e["file"], e["line"], e["field"]) for e in body["errors"]}


def test_listing_errors_name_file_line_and_field(client: Any, creator: Any) -> None:
    s = slug()
    files = agent_files(s)
    files["openagents.yaml"] = LISTING.format(slug=s)
    where = _where(upload(client, creator, files))
    assert ("openagents.yaml", 6, "pricing.credits") in where  # per_task needs credits: at `pricing:`
    assert ("openagents.yaml", 8, "memory_mb") in where
    assert ("openagents.yaml", 9, "relays[1]") in where
    assert ("openagents.yaml", 10, "version") in where  # YAML reads 1.0 as a number


def test_missing_fields_point_at_the_enclosing_value(client: Any, creator: Any) -> None:
    s = slug()
    files = agent_files(s)
    files["agent.yaml"] = "name: x\ndescription: y\nmodel:\n  temperature: 1\n"
    files["openagents.yaml"] = f"slug: {s}\nname: X\ntagline: t\ntags: []\npricing: {{model: free, credits: 3}}\n"
    where = _where(upload(client, creator, files))
    assert ("agent.yaml", 3, "model.default") in where
    assert ("openagents.yaml", 1, "category") in where
    assert ("openagents.yaml", 5, "pricing.credits") in where  # free pricing takes no credits


def test_skill_front_matter_errors(client: Any, creator: Any) -> None:
    s = slug()
    files = agent_files(s, skills={
        "fetcher": {"SKILL.md": SKILL_WITH_TYPO},
        "misnamed": {"SKILL.md": skill_md("other-name", {})},
        "Bad_Name": {"SKILL.md": skill_md("Bad_Name", {})},
        "nofront": {"SKILL.md": "# no front matter\n"},
        "noskillmd": {"run.sh": "echo hi\n"},
    })
    where = _where(upload(client, creator, files))
    assert ("skills/fetcher/SKILL.md", 6, "permissions.netwrok") in where
    assert ("skills/misnamed/SKILL.md", 2, "name") in where
    assert ("skills/Bad_Name/", None, "name") in where
    assert ("skills/nofront/SKILL.md", 1, None) in where
    assert ("skills/noskillmd/SKILL.md", None, None) in where


@pytest.mark.parametrize("text, line", [
    ("slug: x\nname: [unclosed\n", 3),
    ("slug: a\nname: one\nname: two\n", 3),
    ("base: &b {model: free}\npricing: *b\n", 1),
    ("- just\n- a list\n", 1),
])
def test_yaml_problems_have_lines(client: Any, creator: Any, text: str, line: int) -> None:
    files = agent_files(slug())
    files["openagents.yaml"] = text
    where = _where(upload(client, creator, files))
    assert ("openagents.yaml", line, None) in where


def test_required_files_and_encoding(client: Any, creator: Any) -> None:
    files = agent_files(slug())
    del files["openagents.yaml"]
    files["agent.yaml"] = b"\xff\xfe not utf-8"
    where = _where(upload(client, creator, files))
    assert {("openagents.yaml", None, None), ("agent.yaml", None, None)} <= where


def test_a_valid_bundle_passes(client: Any, creator: Any) -> None:
    files = agent_files(slug())
    files["agent.yaml"] = AGENT_YAML + "tools:\n  allow: [web_search]\n"
    assert upload(client, creator, files).status_code == 201
