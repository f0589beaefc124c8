"""The agent's editable files: OpenClaw's workspace, `<data>/workspace` (ARCHITECTURE §5a).

    GET /v1/files               {items: [<metadata>], next_cursor: null}
    GET /v1/files/{path}        the bytes (Content-Type by extension), the metadata in headers: ETag = "<sha256>",
                                x-file-size, x-file-modified-at, x-file-origin, x-file-editable
    PUT /v1/files/{path}        raw body → the written file's <metadata>, ETag = "<sha256>";
                                `If-Match: "<sha256>"` makes it conditional (412)

A file's metadata is `{path, size, sha256, modified_at, editable, origin}` (`protocol.FILE_FIELDS`),
computed one way for all three, so what a write answers is what the next read or listing shows.

Paths are relative to the workspace with `/` separators. Refused with 400: absolute paths, `..`,
`.`, empty or hidden segments (`.git`, `.env`, …), backslashes, NUL, and anything whose real path
(after symlinks) leaves the workspace. `skills/…` is read-only (403): skills reach the machine only
through a signed bundle (§5c). Bodies above `BRIDGE_MAX_FILE_BYTES` (1 MiB) → 413. A missing file → 404.
Writing under a path whose parent is a file, or onto a directory → 409.

`origin` in the listing: `bundle` (written by the current bundle and unchanged), `edited` (written by a
bundle, changed since), `user` (not from a bundle), `skill` (a verified skill's file, read-only).
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fly.agent.bridge.problems import BridgeError
from shared.bridge import protocol

SKILLS_DIR = "skills"
MAX_LISTED = 5000
MAX_PATH_CHARS = 1024


def clean_relative_path(raw: str) -> str:
    """A normalised workspace-relative path, or BridgeError(400)."""
    if not raw or len(raw) > MAX_PATH_CHARS or "\\" in raw or "\0" in raw or raw.startswith("/"):
        raise BridgeError(400, "Invalid path", "the path must be relative to the workspace")
    parts = raw.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise BridgeError(400, "Invalid path", "the path may not contain empty, '.', '..' or hidden segments")
    return "/".join(parts)


def resolve_in(root: Path, rel: str) -> Path:
    """`root/rel`, refusing (400) anything whose real path escapes `root` (symlinks included)."""
    rel = clean_relative_path(rel)
    real_root = root.resolve()
    target = (root / rel).resolve()
    if target != real_root and real_root not in target.parents:
        raise BridgeError(400, "Invalid path", "the path leaves the workspace")
    return root / rel


def is_skill_path(rel: str) -> bool:
    return PurePosixPath(rel).parts[0] == SKILLS_DIR


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".oa-tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def walk_files(root: Path) -> list[str]:
    """Workspace-relative paths of regular files, hidden entries and symlinks skipped."""
    out: list[str] = []
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and not os.path.islink(os.path.join(dirpath, d)))
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if name.startswith(".") or os.path.islink(full):
                continue
            out.append(Path(full).relative_to(root).as_posix())
            if len(out) >= MAX_LISTED:
                return out
    return out


def origin_of(rel: str, digest: str, manifest: dict[str, str]) -> str:
    if is_skill_path(rel):
        return "skill"
    if rel in manifest:
        return "bundle" if manifest[rel] == digest else "edited"
    return "user"


def file_meta(full: Path, rel: str, digest: str, manifest: dict[str, str]) -> dict[str, Any]:
    """The metadata of one file (`digest` is the sha256 of the bytes the caller read or wrote)."""
    st = full.stat()
    origin = origin_of(rel, digest, manifest)
    return {
        "path": rel,
        "size": st.st_size,
        "sha256": digest,
        "modified_at": datetime.fromtimestamp(st.st_mtime, UTC).isoformat().replace("+00:00", "Z"),
        "editable": origin != "skill",
        "origin": origin,
    }


def _listing(config: Any, state: Any) -> list[dict[str, Any]]:
    manifest: dict[str, str] = state.manifest
    return [file_meta(config.workspace / rel, rel, sha256_file(config.workspace / rel), manifest)
            for rel in walk_files(config.workspace)]


async def list_files(request: Request) -> JSONResponse:
    app_state = request.app.state
    items = await anyio.to_thread.run_sync(_listing, app_state.config, app_state.bundle_state)
    return JSONResponse({"items": items, "next_cursor": None})


async def get_file(request: Request) -> Response:
    app_state = request.app.state
    config = app_state.config
    rel = clean_relative_path(request.path_params["path"])
    path = resolve_in(config.workspace, rel)
    if not path.is_file():
        raise BridgeError(404, "Not found", "no such file")
    data = await anyio.to_thread.run_sync(path.read_bytes)
    meta = file_meta(path, rel, hashlib.sha256(data).hexdigest(), app_state.bundle_state.manifest)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix.lower() in (".md", ".txt", ".yaml", ".yml", ".json", ".py", ".sh", ".toml", ".csv"):
        media_type = (media_type if media_type != "application/octet-stream" else "text/plain") + "; charset=utf-8"
    return Response(data, media_type=media_type, headers={**protocol.file_headers(meta), "Cache-Control": "no-store"})


async def put_file(request: Request) -> JSONResponse:
    app_state = request.app.state
    config = app_state.config
    rel = clean_relative_path(request.path_params["path"])
    if is_skill_path(rel):
        raise BridgeError(403, "Read-only", "skills are signed and read-only; they change only with a new agent version")
    path = resolve_in(config.workspace, rel)
    limit = config.max_file_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BridgeError(413, "File too large", f"files are limited to {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BridgeError(413, "File too large", f"files are limited to {limit} bytes")
    data = bytes(body)
    digest = hashlib.sha256(data).hexdigest()
    if_match = request.headers.get(protocol.IF_MATCH)
    async with app_state.write_lock:
        if path.is_dir():
            raise BridgeError(409, "Is a directory", "the path names a directory")
        if if_match and if_match.strip() != "*":
            current = protocol.etag(sha256_file(path)) if path.is_file() else None
            if current != if_match.strip():
                raise BridgeError(412, "Precondition failed", "the file changed since it was read")
        try:
            await anyio.to_thread.run_sync(atomic_write, path, data)
        except (NotADirectoryError, FileExistsError, IsADirectoryError) as exc:
            raise BridgeError(409, "Path conflict", "a parent of this path is a file") from exc
        # Read back under the lock, so the metadata is this write's and not a later one's.
        meta = file_meta(path, rel, digest, app_state.bundle_state.manifest)
    return JSONResponse(meta, headers={protocol.ETAG: protocol.etag(digest)})
