"""Ordering of the semantic versions in `openagents.yaml` (`1.2.0`, `1.2.0-beta.2`, `1.2.0+build.5`).

Precedence as semver.org defines it: MAJOR.MINOR.PATCH numerically, a pre-release sorts before its
release, pre-release identifiers compare one by one (numbers numerically and below words), and build
metadata does not count. The manifest already checked the shape (manifest.SEMVER).
"""

from __future__ import annotations

import re

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")

Key = tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]


def key(version: str) -> Key:
    """A sort key; ValueError for something that is not a semantic version."""
    m = _VERSION.match(version.strip())
    if m is None:
        raise ValueError(f"{version!r} is not a semantic version")
    major, minor, patch, pre = m.groups()
    if pre is None:
        return int(major), int(minor), int(patch), 1, ()
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return int(major), int(minor), int(patch), 0, parts


def newer(candidate: str, than: str) -> bool:
    return key(candidate) > key(than)
