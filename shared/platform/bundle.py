"""A bundle's files, read safely from what a creator uploads (ARCHITECTURE §5a "Bundle layout").

Three forms carry the same thing, a mapping of bundle paths to bytes:

    application/json    {"bundle": {"files": {"<path>": "<utf-8 text>" | {"base64": "…"}}}}
    application/zip     a .zip archive
    application/gzip    a .tar.gz archive

Archives are read in memory, never extracted to disk. What is refused (422 `bundle-invalid`, every
error naming its file): more than MAX_FILES files or MAX_ENTRIES archive entries, a file above
MAX_FILE_BYTES, more than MAX_TOTAL_BYTES in all (checked on the sizes an archive declares *and* on
the bytes actually read, so a lying header or a compression bomb stops at the limit), symlinks, hard
links, devices, encrypted entries, absolute paths, `..`, `.`, empty or hidden segments, backslashes,
control characters, and anything outside the layout the machine's bridge accepts: `agent.yaml`,
`openagents.yaml`, `README.md`, `workspace/…` (not `workspace/skills/…`) and `skills/<name>/…`.
An archive whose files all sit in one top folder (a zipped folder) is read from inside that folder;
macOS archive litter (`__MACOSX/`, `.DS_Store`) is skipped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.platform.models import BundleIssue
from shared.problems import Problem

MAX_UPLOAD_BYTES = 12 << 20  # request body (a JSON bundle is base64: ~4/3 of MAX_TOTAL_BYTES)
MAX_TOTAL_BYTES = 8 << 20  # all files, uncompressed
MAX_FILE_BYTES = 1 << 20  # one file (the bridge's editable-file limit too)
MAX_FILES = 500
MAX_ENTRIES = 2000  # archive entries, directories included
MAX_PATH_CHARS = 512

META_FILES = ("agent.yaml", "openagents.yaml", "README.md")
_JUNK_DIRS = ("__MACOSX",)
_JUNK_NAMES = (".DS_Store", "Thumbs.db")


class BundleInvalid(Problem):
    """422 with `errors: [{file, line, field, message}]`."""

    def __init__(self, issues: Iterable[BundleIssue], detail: str = "The bundle is not valid.") -> None:
        self.issues = list(issues)
        super().__init__(422, "Unprocessable Content", detail, code="bundle-invalid",
                         errors=[i.model_dump() for i in self.issues])


def issue(file: str | None, message: str, *, line: int | None = None, field: str | None = None) -> BundleIssue:
    return BundleIssue(file=file, line=line, field=field, message=message)


@dataclass
class Bundle:
    """Bundle path (POSIX, relative to the bundle root) → bytes."""
    files: dict[str, bytes] = field(default_factory=dict)

    def text(self, path: str) -> str | None:
        data = self.files.get(path)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def skill_names(self) -> list[str]:
        return sorted({p.split("/")[1] for p in self.files if p.startswith("skills/") and p.count("/") >= 2})

    def skill_files(self, name: str) -> dict[str, bytes]:
        """The skill folder's files, keyed relative to the folder (what §5c's content hash covers)."""
        prefix = f"skills/{name}/"
        return {p[len(prefix):]: data for p, data in self.files.items() if p.startswith(prefix)}

    def to_storage(self) -> dict[str, str]:
        """`{path: standard base64}`: the `files` of `agent_versions.bundle`, as machines receive it."""
        return {p: base64.b64encode(self.files[p]).decode("ascii") for p in sorted(self.files)}

    @classmethod
    def from_storage(cls, files: Mapping[str, str]) -> Bundle:
        return cls({p: base64.b64decode(v) for p, v in files.items()})

    def index(self) -> list[dict[str, Any]]:
        return [{"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                for p, d in sorted(self.files.items())]


def path_problem(path: str) -> str | None:
    """Why `path` cannot be a bundle path (None when it can): the bridge's own rules, checked up front."""
    if not path:
        return "empty path"
    if len(path) > MAX_PATH_CHARS:
        return f"the path is longer than {MAX_PATH_CHARS} characters"
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in path):
        return "the path contains control characters"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "the path is not valid UTF-8"
    if "\\" in path:
        return "use '/' as the path separator"
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return "absolute paths are not allowed"
    parts = path.split("/")
    if ".." in parts:
        return "'..' is not allowed in paths"
    if any(p in ("", ".") for p in parts):
        return "paths may not have empty or '.' segments"
    if any(p.startswith(".") for p in parts):
        return "hidden files and folders are not allowed"
    head = parts[0]
    if path in META_FILES:
        return None
    if head == "workspace" and len(parts) >= 2:
        if parts[1] == "skills":
            return "skills belong in skills/<name>/, where they are signed and verified"
        return None
    if head == "skills" and len(parts) >= 3:
        return None
    if head == "skills":
        return "a skill's files go in skills/<name>/"
    return "not part of the bundle layout (agent.yaml, openagents.yaml, README.md, workspace/…, skills/<name>/…)"


class _Collector:
    """Adds files under the limits, gathering every problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.issues: list[BundleIssue] = []
        self.total = 0
        self.stopped = False  # a limit was hit: reading on would only do work an attacker asked for

    def fail(self, file: str | None, message: str) -> None:
        self.issues.append(issue(file, message))

    def room(self, path: str, size: int) -> bool:
        """Whether a file of `size` bytes still fits; records the reason when not."""
        if len(self.files) >= MAX_FILES:
            why = f"a bundle holds at most {MAX_FILES} files"
        elif size > MAX_FILE_BYTES:
            why = f"the file is larger than {MAX_FILE_BYTES} bytes"
        elif self.total + size > MAX_TOTAL_BYTES:
            why = f"the bundle's files add up to more than {MAX_TOTAL_BYTES} bytes"
        else:
            return True
        self.fail(path, why)
        self.stopped = True
        return False

    def add(self, path: str, data: bytes) -> None:
        why = path_problem(path)
        if why is not None:
            self.fail(path, why)
            return
        if path in self.files:
            self.fail(path, "the same path appears twice")
            return
        if not self.room(path, len(data)):
            return
        self.files[path] = data
        self.total += len(data)

    def result(self) -> Bundle:
        if self.issues:
            raise BundleInvalid(self.issues)
        if not self.files:
            raise BundleInvalid([issue(None, "the bundle has no files")])
        return Bundle(self.files)


def from_json(data: Any) -> Bundle:
    """`{"bundle": {"files": {...}}}` (already parsed JSON)."""
    if not isinstance(data, dict) or set(data) != {"bundle"} or not isinstance(data["bundle"], dict):
        raise BundleInvalid([issue(None, 'the body must be {"bundle": {"files": {"<path>": …}}}')])
    inner = data["bundle"]
    if set(inner) != {"files"} or not isinstance(inner["files"], dict):
        raise BundleInvalid([issue(None, 'the bundle must be {"files": {"<path>": "<text>" | {"base64": "…"}}}')])
    out = _Collector()
    for path, value in inner["files"].items():
        if isinstance(value, str):
            try:
                raw = value.encode("utf-8")
            except UnicodeEncodeError:
                out.fail(path, "the text is not valid UTF-8")
                continue
        elif isinstance(value, dict) and set(value) == {"base64"} and isinstance(value["base64"], str):
            if len(value["base64"]) > (MAX_FILE_BYTES * 4) // 3 + 8:
                out.fail(path, f"the file is larger than {MAX_FILE_BYTES} bytes")
                continue
            try:
                raw = base64.b64decode(value["base64"], validate=True)
            except (binascii.Error, ValueError):
                out.fail(path, "the content is not valid base64")
                continue
        else:
            out.fail(path, 'a file is UTF-8 text or {"base64": "…"}')
            continue
        out.add(path, raw)
        if out.stopped:
            break
    return out.result()


def parse_json_body(raw: bytes) -> Bundle:
    try:
        data = json.loads(raw)
    except RecursionError:
        raise Problem(400, "Bad Request", "The body is nested too deeply.", code="malformed-json") from None
    except (ValueError, UnicodeDecodeError):
        raise Problem(400, "Bad Request", "The body is not valid JSON.", code="malformed-json") from None
    return from_json(data)


def _archive_paths(names: list[str]) -> dict[str, str]:
    """Archive name → bundle path: `./` dropped, litter skipped, one common top folder stripped."""
    kept: dict[str, str] = {}
    for name in names:
        clean = name
        while clean.startswith("./"):
            clean = clean[2:]
        parts = clean.split("/")
        if parts[0] in _JUNK_DIRS or parts[-1] in _JUNK_NAMES:
            continue
        kept[name] = clean
    if kept and "openagents.yaml" not in kept.values():
        tops = {p.split("/", 1)[0] for p in kept.values()}
        if len(tops) == 1 and all("/" in p for p in kept.values()):
            top = tops.pop()
            if f"{top}/openagents.yaml" in kept.values() and top not in ("", ".", ".."):
                kept = {n: p[len(top) + 1:] for n, p in kept.items()}
    return kept


def from_zip(raw: bytes) -> Bundle:
    import zipfile  # stdlib, but not needed for JSON bundles: first use only

    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise BundleInvalid([issue(None, "the upload is not a readable zip archive")]) from None
    out = _Collector()
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise BundleInvalid([issue(None, f"the archive has more than {MAX_ENTRIES} entries")])
        regular = []
        for info in infos:
            mode = (info.external_attr >> 16) & 0xFFFF
            kind = stat.S_IFMT(mode)
            if stat.S_ISLNK(mode):
                out.fail(info.filename, "symbolic links are not allowed")
            elif info.is_dir() or stat.S_ISDIR(mode):
                continue
            elif kind not in (0, stat.S_IFREG):
                out.fail(info.filename, "only regular files are allowed")
            elif info.flag_bits & 0x1:
                out.fail(info.filename, "encrypted entries are not allowed")
            else:
                regular.append(info)
        paths = _archive_paths([i.filename for i in regular])
        for info in regular:
            path = paths.get(info.filename)
            if path is None:
                continue
            why = path_problem(path)
            if why is not None:
                out.fail(info.filename, why)
                continue
            if not out.room(path, info.file_size):
                break
            try:
                with archive.open(info) as member:
                    data = member.read(MAX_FILE_BYTES + 1)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError,
                    ValueError, RuntimeError) as exc:
                out.fail(path, f"the entry cannot be read ({type(exc).__name__})")
                continue
            if len(data) > MAX_FILE_BYTES or len(data) != info.file_size:
                out.fail(path, "the entry's size does not match its header (a corrupt or crafted archive)")
                break
            out.add(path, data)
            if out.stopped:
                break
    return out.result()


class _Bounded(io.RawIOBase):
    """A read-only stream that refuses to yield more than `limit` bytes (decompression bombs)."""

    def __init__(self, inner: Any, limit: int) -> None:
        self.inner = inner
        self.left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = len(buffer)
        data = self.inner.read(min(want, self.left + 1))
        if len(data) > self.left:
            raise _TooBig
        self.left -= len(data)
        buffer[: len(data)] = data
        return len(data)


class _TooBig(Exception):
    pass


def from_tar_gz(raw: bytes) -> Bundle:
    import gzip
    import tarfile
    import zlib

    # Headers and padding take room beyond the files' bytes: allow for them, and no more.
    budget = MAX_TOTAL_BYTES + (MAX_ENTRIES + 4) * 1024
    stream = io.BufferedReader(_Bounded(gzip.GzipFile(fileobj=io.BytesIO(raw)), budget))
    out = _Collector()
    members: list[tuple[str, bytes]] = []
    total = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for count, member in enumerate(archive, start=1):
                if count > MAX_ENTRIES:
                    out.fail(None, f"the archive has more than {MAX_ENTRIES} entries")
                    break
                if member.issym() or member.islnk():
                    out.fail(member.name, "links are not allowed")
                elif member.isdir():
                    continue
                elif not member.isreg():
                    out.fail(member.name, "only regular files are allowed")
                elif len(members) >= MAX_FILES:
                    out.fail(member.name, f"a bundle holds at most {MAX_FILES} files")
                    break
                elif member.size > MAX_FILE_BYTES:
                    out.fail(member.name, f"the file is larger than {MAX_FILE_BYTES} bytes")
                    break
                elif total + member.size > MAX_TOTAL_BYTES:
                    out.fail(member.name, f"the bundle's files add up to more than {MAX_TOTAL_BYTES} bytes")
                    break
                else:
                    f = archive.extractfile(member)
                    data = f.read(MAX_FILE_BYTES + 1) if f is not None else b""
                    members.append((member.name, data))
                    total += len(data)
    except _TooBig:
        raise BundleInvalid([issue(None, f"the archive expands beyond {budget} bytes")]) from None
    except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError, UnicodeDecodeError):
        if not members and not out.issues:
            raise BundleInvalid([issue(None, "the upload is not a readable .tar.gz archive")]) from None
        out.fail(None, "the archive is truncated or corrupt")
    if out.issues:
        raise BundleInvalid(out.issues)
    paths = _archive_paths([name for name, _ in members])
    for name, data in members:
        if name in paths:
            out.add(paths[name], data)
    return out.result()


def from_upload(content_type: str, raw: bytes) -> Bundle:
    """The bundle in a request body of this media type (parameters such as `; charset=` ignored)."""
    mimetype = content_type.split(";", 1)[0].strip().lower()
    if mimetype == "application/json" or mimetype.endswith("+json"):
        return parse_json_body(raw)
    if mimetype in ("application/zip", "application/x-zip-compressed"):
        if not raw.startswith(b"PK"):
            raise BundleInvalid([issue(None, "the body is not a zip archive")])
        return from_zip(raw)
    if mimetype in ("application/gzip", "application/x-gzip", "application/x-tar+gzip", "application/x-gtar"):
        if not raw.startswith(b"\x1f\x8b"):
            raise BundleInvalid([issue(None, "the body is not a gzip-compressed tar archive")])
        return from_tar_gz(raw)
    raise Problem(415, "Unsupported Media Type",
                  "Send the bundle as application/json, application/zip (.zip) or application/gzip (.tar.gz).",
                  code="unsupported-media-type")
