"""`PUT /v1/bundle`: write an agent version's files (first boot, warm-pool claim, update).

Request (JSON, at most `BRIDGE_MAX_BUNDLE_BYTES`, 32 MiB):

    {
      "version": "<agent version id>",
      "files": {"<bundle path>": "<standard base64 of the bytes>", ...},
      "signatures": {"<skill name>": {"key_id": "...", "signature": "<base64url>",
                                       "content_hash": "<hex, optional>", "permissions_hash": "<hex, optional>"}}
    }

Bundle paths follow the layout of ARCHITECTURE §5a:
    agent.yaml, openagents.yaml, README.md   kept in <data>/.openagents/bundle/ (not in the workspace)
    workspace/<path>                         → <data>/workspace/<path> (OpenClaw's workspace)
    skills/<name>/<path>                     → <data>/workspace/skills/<name>/<path>, only once verified
Anything else, `workspace/skills/…`, and paths with empty, `.`, `..` or hidden segments → 400.

Workspace files keep user edits. The bridge keeps a manifest of the hash it wrote for every workspace
file (`<data>/.openagents/bundle.json`); on each PUT, for a file of the new bundle:
    missing on disk                              → written
    on disk with the new content                 → unchanged
    on disk as the previous bundle wrote it      → overwritten (written)
    on disk with other content (user-edited, or created by the user/agent) → kept
and for a file only the previous bundle had: removed when unedited, kept when edited.

Skills are replaced as a whole: the installed set becomes the verified skills of this bundle; a skill
that fails verification is not written (and an older copy of it is removed) and is reported.

Response 200:
    {"version", "files": {"written": [...], "unchanged": [...], "kept": [...], "removed": [...]},
     "skills": {"installed": [...], "refused": [{"name", "reason", "detail"}]}}
`GET /v1/bundle` answers `{version, updated_at, files: {path: sha256}, skills: {installed, refused}}`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse

from fly.agent.bridge.body import read_json
from fly.agent.bridge.files import atomic_write, clean_relative_path, resolve_in
from fly.agent.bridge.problems import BridgeError
from fly.agent.bridge.skills import check_skill, quarantine, verify_installed
from fly.agent.bridge.state import BundleState

META_FILES = ("agent.yaml", "openagents.yaml", "README.md")


def _invalid(detail: str) -> BridgeError:
    return BridgeError(400, "Invalid bundle", detail)


@dataclass(frozen=True, slots=True)
class Bundle:
    """A `PUT /v1/bundle` body, checked and decoded."""

    version: str
    meta: dict[str, bytes]  # agent.yaml, openagents.yaml, README.md (platform-owned, kept under state)
    workspace: dict[str, bytes]  # paths relative to the workspace
    skills: dict[str, dict[str, bytes]]  # {skill name: {path inside the skill folder: bytes}}
    signatures: dict[str, Any]  # {skill name: {key_id, signature, ...}}


def parse_bundle(body: dict[str, Any]) -> Bundle:
    unknown = set(body) - {"version", "files", "signatures"}
    if unknown:
        raise _invalid(f"unknown fields: {', '.join(sorted(unknown))}")
    version = body.get("version")
    if not isinstance(version, str) or not version.strip() or len(version) > 200:
        raise _invalid("`version` must be a non-empty string")
    files = body.get("files")
    if not isinstance(files, dict):
        raise _invalid("`files` must be an object {path: base64}")
    signatures = body.get("signatures")
    if signatures is None:
        signatures = {}
    if not isinstance(signatures, dict) or not all(isinstance(v, dict) for v in signatures.values()):
        raise _invalid("`signatures` must be an object {skill name: {key_id, signature, ...}}")
    meta: dict[str, bytes] = {}
    workspace: dict[str, bytes] = {}
    skills: dict[str, dict[str, bytes]] = {}
    for path, encoded in files.items():
        if not isinstance(encoded, str):
            raise _invalid(f"{path}: content must be a base64 string")
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _invalid(f"{path}: content is not valid base64") from exc
        try:
            rel = clean_relative_path(path)
        except BridgeError as exc:
            raise _invalid(f"{path!r}: {exc.detail}") from exc
        head, _, rest = rel.partition("/")
        if rel in META_FILES:
            meta[rel] = data
        elif head == "workspace" and rest:
            if rest.split("/")[0] == "skills":
                raise _invalid(f"{path}: skills belong in skills/<name>/, where they are verified")
            workspace[rest] = data
        elif head == "skills" and "/" in rest:
            name, _, inner = rest.partition("/")
            skills.setdefault(name, {})[inner] = data
        else:
            raise _invalid(f"{path}: not part of the bundle layout (agent.yaml, openagents.yaml, README.md, "
                           "workspace/…, skills/<name>/…)")
    return Bundle(version, meta, workspace, skills, signatures)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha(path: Path) -> str | None:
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _prune_empty_dirs(start: Path, stop: Path) -> None:
    d = start
    while d != stop and stop in d.parents:
        try:
            d.rmdir()
        except OSError:
            return
        d = d.parent


def apply_bundle(config: Any, state: BundleState, bundle: Bundle) -> dict[str, Any]:
    version, meta, workspace, skills, signatures = (bundle.version, bundle.meta, bundle.workspace, bundle.skills,
                                                    bundle.signatures)
    ws = config.workspace
    ws.mkdir(parents=True, exist_ok=True)
    state_dir = config.state_dir
    targets = {rel: resolve_in(ws, rel) for rel in workspace}  # refuse (400) before writing anything

    # Meta files: owned by the platform, replaced as a set.
    meta_dir = state_dir / "bundle"
    meta_dir.mkdir(parents=True, exist_ok=True)
    for name in META_FILES:
        if name in meta:
            atomic_write(meta_dir / name, meta[name])
        elif (meta_dir / name).exists():
            (meta_dir / name).unlink()

    # Workspace files: keep what the user edited.
    old = state.manifest
    new_manifest: dict[str, str] = {}
    written: list[str] = []
    unchanged: list[str] = []
    kept: list[str] = []
    removed: list[str] = []
    for rel, data in sorted(workspace.items()):
        target = targets[rel]
        want = _sha(data)
        if target.is_dir():
            kept.append(rel)
            continue
        current = _file_sha(target)
        if current == want:
            unchanged.append(rel)
            new_manifest[rel] = want
        elif current is None or old.get(rel) == current:
            try:
                atomic_write(target, data)
            except (NotADirectoryError, FileExistsError, IsADirectoryError):
                kept.append(rel)  # the user made a parent of it a file: theirs wins
                continue
            written.append(rel)
            new_manifest[rel] = want
        else:
            kept.append(rel)
            if rel in old:
                new_manifest[rel] = old[rel]  # still "edited": reverting it makes it the bundle's again
    for rel, old_sha in sorted(old.items()):
        if rel in workspace:
            continue
        try:
            target = resolve_in(ws, rel)
        except BridgeError:
            continue
        current = _file_sha(target)
        if current is None:
            continue
        if current == old_sha:
            target.unlink()
            _prune_empty_dirs(target.parent, ws)
            removed.append(rel)
        else:
            kept.append(rel)

    # Skills: verify, stage outside the workspace, swap in whole.
    skills_dir = ws / "skills"
    skills_dir.mkdir(parents=True, exist_ok=True)
    staging = state_dir / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    installed: dict[str, dict[str, Any]] = {}
    refused: list[dict[str, str]] = []
    for name, files in sorted(skills.items()):
        check = check_skill(name, files, signatures.get(name), config.public_keys)
        if not check.ok:
            refused.append(check.refusal())
            continue
        stage = staging / name
        for rel, data in files.items():
            atomic_write(stage / rel, data)
        target = skills_dir / name
        if target.exists() or target.is_symlink():
            trash = staging / f".old-{name}"
            os.replace(target, trash)
        os.replace(stage, target)
        installed[name] = {"signature": check.signature, "permissions": check.permissions,
                           "files": {rel: _sha(data) for rel, data in sorted(files.items())}}
    for entry in list(skills_dir.iterdir()):
        if entry.name in installed:
            continue
        if entry.name in state.skills:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        else:
            quarantine(entry, state_dir)
    shutil.rmtree(staging, ignore_errors=True)

    state.version = version
    state.manifest = new_manifest
    state.skills = installed
    state.refused = refused
    state.updated_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    state.save(state_dir)
    return {
        "version": version,
        "files": {"written": written, "unchanged": unchanged, "kept": sorted(kept), "removed": removed},
        "skills": {"installed": sorted(installed), "refused": refused},
    }


async def put_bundle(request: Request) -> JSONResponse:
    app_state = request.app.state
    config = app_state.config
    body = await read_json(request, config.max_bundle_bytes)
    bundle = parse_bundle(body)
    async with app_state.write_lock:
        result = await anyio.to_thread.run_sync(apply_bundle, config, app_state.bundle_state, bundle)
    return JSONResponse(result)


async def get_bundle(request: Request) -> JSONResponse:
    state: BundleState = request.app.state.bundle_state
    return JSONResponse({"version": state.version, "updated_at": state.updated_at, "files": state.manifest,
                         "skills": state.skills_report()})


def prepare_skills(workspace: Path, state_dir: Path, public_keys: Any) -> BundleState:
    """Boot-time check (before OpenClaw starts, and when the bridge starts)."""
    workspace.mkdir(parents=True, exist_ok=True)
    state = BundleState.load(state_dir)
    verify_installed(workspace, state_dir, state, public_keys)
    state.save(state_dir)
    return state
