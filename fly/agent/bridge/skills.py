"""Skill verification on the machine (ARCHITECTURE §5c): nothing reaches OpenClaw's skills folder
(`<workspace>/skills/<name>/`, the folder it loads with the highest precedence) unverified.

- A bundle's skill is checked before it is written: folder name, SKILL.md front matter (`name` equal to
  the folder name, `description`, `permissions`), then the signature over the files and the declared
  permissions against `SKILL_SIGNING_PUBLIC_KEYS`. Verified skills are staged outside the workspace
  and moved into place whole; refused ones are not written and are reported
  (`{name, reason, detail}`: reasons `unsigned`, `unknown_key`, `bad_signature`, `content_mismatch`,
  `permissions_mismatch`, `malformed`, `invalid_manifest`, `invalid_name`).
- Before the gateway starts (`python -m fly.agent.bridge prepare`, from entrypoint.sh) and when the
  bridge starts, every folder in the skills directory is re-verified from disk against the signature
  recorded when it was installed and the current key set; anything unknown, changed or no longer
  verifying is moved to `<data>/.openagents/quarantine/` and reported as refused.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fly.agent.bridge.state import BundleState
from shared.skills.frontmatter import FrontMatterError, skill_manifest
from shared.skills.signatures import SignatureError, verify_skill

SKILL_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
SKILL_FILE = "SKILL.md"


@dataclass
class SkillCheck:
    name: str
    ok: bool
    reason: str = ""
    detail: str = ""
    signature: dict[str, str] | None = None
    permissions: Any = None

    def refusal(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason, "detail": self.detail}


def check_skill(name: str, files: Mapping[str, bytes], signature: Mapping[str, Any] | None,
                public_keys: Mapping[str, Any]) -> SkillCheck:
    if not SKILL_NAME_RE.match(name):
        return SkillCheck(name, False, "invalid_name", "skill names are lowercase letters, digits, '.', '_' or '-'")
    if SKILL_FILE not in files:
        return SkillCheck(name, False, "invalid_manifest", "the skill has no SKILL.md")
    try:
        manifest = skill_manifest(files[SKILL_FILE])
    except FrontMatterError as exc:
        return SkillCheck(name, False, "invalid_manifest", str(exc))
    if manifest["name"] != name:
        return SkillCheck(name, False, "invalid_manifest",
                          f"SKILL.md names the skill {manifest['name']!r}, its folder is {name!r}")
    permissions = manifest["permissions"]
    try:
        verified = verify_skill(files, permissions, signature, public_keys)
    except SignatureError as exc:
        return SkillCheck(name, False, exc.reason, exc.detail)
    return SkillCheck(name, True, signature=verified.to_dict(), permissions=permissions)


def read_tree(root: Path) -> dict[str, bytes] | None:
    """Every regular file under `root` (relative POSIX paths); None when a symlink or special file is found."""
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            return None
        if path.is_dir():
            continue
        if not path.is_file():
            return None
        files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def quarantine(path: Path, state_dir: Path) -> None:
    target = state_dir / "quarantine" / f"{path.name}-{int(time.time() * 1000)}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), str(target))


def verify_installed(workspace: Path, state_dir: Path, state: BundleState,
                     public_keys: Mapping[str, Any]) -> list[dict[str, str]]:
    """Re-verifies the skills folder against `state`; quarantines what fails. Returns new refusals
    (and updates `state.skills` / `state.refused`; the caller saves)."""
    skills_dir = workspace / "skills"
    refusals: list[dict[str, str]] = []
    present = set()
    if skills_dir.exists() and (skills_dir.is_symlink() or not skills_dir.is_dir()):
        quarantine(skills_dir, state_dir)
    if skills_dir.is_dir():
        for entry in sorted(skills_dir.iterdir()):
            record = state.skills.get(entry.name)
            if record is None or not entry.is_dir() or entry.is_symlink():
                quarantine(entry, state_dir)
                refusals.append({"name": entry.name, "reason": "unsigned",
                                 "detail": "found in the skills folder without a verified install"})
                continue
            files = read_tree(entry)
            check = (SkillCheck(entry.name, False, "malformed", "the skill folder holds links or special files")
                     if files is None else check_skill(entry.name, files, record.get("signature"), public_keys))
            if not check.ok:
                quarantine(entry, state_dir)
                refusals.append(check.refusal())
                continue
            present.add(entry.name)
    for name in list(state.skills):
        if name not in present:
            del state.skills[name]
    if refusals:
        known = {r["name"] for r in refusals}
        state.refused = [r for r in state.refused if r["name"] not in known] + refusals
    return refusals
