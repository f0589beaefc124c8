"""An instance's editable files, read and written through its bridge (`/v1/files` under `/data`).

The calls go through the bridge client (`shared.bridge.client`: Fly's proxy to the instance's machine
with its gateway token); a stopped or suspended agent is woken first. Paths are checked here as well
as on the bridge: anything that could escape the workspace is refused before it leaves the API.

A file's metadata (`FileInfo`: path, size, sha256, modified_at, editable, origin) is the bridge's, the
same in the listing, beside a read and in a write's answer; its ETag (`"<sha256>"`) guards writes
against lost updates (`If-Match` → 412 when the file changed since it was read).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import BaseModel

from shared.data import get_db
from shared.problems import Problem, bad_request, not_found

if TYPE_CHECKING:
    from shared.auth import User
    from shared.bridge.client import BridgeError
    from shared.bridge.target import MachineTarget

MAX_FILE_BYTES = 1 << 20
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_PASSTHROUGH = {400, 403, 404, 409, 412, 413}


class FileInfo(BaseModel):
    path: str
    size: int
    sha256: str | None = None
    modified_at: datetime | str | None = None
    editable: bool = True
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class FileContent:
    data: bytes
    info: FileInfo
    etag: str | None


class FileList(BaseModel):
    items: list[FileInfo]
    next_cursor: str | None = None


def check_path(path: str) -> str:
    parts = path.split("/")
    if not path or len(path) > 512 or any(not _SEGMENT.match(p) or p in (".", "..") for p in parts):
        raise bad_request("File paths are relative to the workspace, with plain names separated by `/`.",
                          code="invalid-path")
    return path


def _target(user: User, instance_id: str) -> MachineTarget:
    with get_db().user(user.claims) as tx:
        row = tx.one("instance_status_for_user", instance_id=instance_id)
    if row is None:
        raise not_found("instance")
    from shared.lifecycle import machine_target, needs_wake, wake

    if needs_wake(row["status"]):
        wake(instance_id)
    return machine_target(instance_id)


def _problem(exc: BridgeError) -> NoReturn:
    """The bridge's refusals of a file operation pass through; anything else is the agent failing."""
    from shared.bridge.client import BridgeRefused

    if isinstance(exc, BridgeRefused):
        if exc.status in _PASSTHROUGH:
            raise Problem(exc.status, exc.title or "Error", exc.detail or "The agent refused this file operation.",
                          code="file-refused") from None
        raise Problem(502, "Bad Gateway", f"The agent answered {exc.status}.", code="agent-error") from None
    raise Problem(502, "Bad Gateway", "The agent could not be reached.", code="agent-unavailable") from None


def _info(path: str, meta: dict[str, Any], size: int) -> FileInfo:
    known = {k: v for k, v in meta.items() if v is not None}
    return FileInfo.model_validate({"path": path, "size": size, **known})


def metadata_headers(info: FileInfo) -> dict[str, str]:
    """A read's metadata headers besides the ETag (protocol names), when the bridge gave it all."""
    from shared.bridge import protocol

    if info.sha256 is None or info.modified_at is None or info.origin is None:
        return {}
    headers = protocol.file_headers(info.model_dump(mode="json"))
    headers.pop(protocol.ETAG)
    return headers


def list_files(user: User, instance_id: str) -> FileList:
    from shared.bridge.client import BridgeError, bridge_client

    target = _target(user, instance_id)
    try:
        items = bridge_client().list_files(target)
    except BridgeError as exc:
        _problem(exc)
    return FileList(items=[FileInfo.model_validate(i) for i in items])


def read_file(user: User, instance_id: str, path: str) -> FileContent:
    from shared.bridge.client import BridgeError, bridge_client

    target = _target(user, instance_id)
    path = check_path(path)
    try:
        got = bridge_client().read_file(target, path)
    except BridgeError as exc:
        _problem(exc)
    return FileContent(got.content, _info(path, got.meta, len(got.content)), got.etag)


def write_file(user: User, instance_id: str, path: str, data: bytes, if_match: str | None) -> tuple[FileInfo, str | None]:
    from shared.bridge.client import BridgeError, bridge_client

    if len(data) > MAX_FILE_BYTES:
        raise Problem(413, "Content Too Large", f"A file may be at most {MAX_FILE_BYTES} bytes.", code="body-too-large")
    target = _target(user, instance_id)
    path = check_path(path)
    try:
        written = bridge_client().write_file(target, path, data, if_match=if_match)
    except BridgeError as exc:
        _problem(exc)
    return _info(path, written.meta, len(data)), written.etag
