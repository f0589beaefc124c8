"""An instance's editable files, read and written through its bridge (`/v1/files` under `/data`).

The request goes the way chat's does, through Fly's proxy to the instance's machine with its gateway
token; a stopped or suspended agent is woken first. Paths are checked here as well as on the bridge:
anything that could escape the workspace is refused before it leaves the API.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from shared.data import get_db
from shared.problems import Problem, bad_request, not_found

if TYPE_CHECKING:
    import httpx

    from shared.auth import User

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


class FileList(BaseModel):
    items: list[FileInfo]
    next_cursor: str | None = None


def check_path(path: str) -> str:
    parts = path.split("/")
    if not path or len(path) > 512 or any(not _SEGMENT.match(p) or p in (".", "..") for p in parts):
        raise bad_request("File paths are relative to the workspace, with plain names separated by `/`.",
                          code="invalid-path")
    return path


def _target(user: User, instance_id: str) -> Any:
    with get_db().user(user.claims) as tx:
        row = tx.one("instance_status_for_user", instance_id=instance_id)
    if row is None:
        raise not_found("instance")
    from shared.lifecycle import machine_target, needs_wake, wake

    if needs_wake(row["status"]):
        wake(instance_id)
    return machine_target(instance_id)


def _bridge(target: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    import httpx

    from shared.lifecycle.config import lifecycle_config
    from shared.lifecycle.probe import request_headers

    headers = {**request_headers(target.machine_id, target.gateway_token), **kwargs.pop("headers", {})}
    try:
        with httpx.Client(trust_env=False, timeout=30) as client:
            resp = client.request(method, lifecycle_config().proxy_url(target.app) + path, headers=headers, **kwargs)
    except httpx.HTTPError:
        raise Problem(502, "Bad Gateway", "The agent could not be reached.", code="agent-unavailable") from None
    if resp.status_code in _PASSTHROUGH:
        detail = "The agent refused this file operation."
        try:
            detail = str(resp.json().get("detail") or detail)
        except ValueError:
            pass
        raise Problem(resp.status_code, resp.reason_phrase or "Error", detail, code="file-refused")
    if resp.status_code >= 300:
        raise Problem(502, "Bad Gateway", f"The agent answered {resp.status_code}.", code="agent-error")
    return resp


def list_files(user: User, instance_id: str) -> FileList:
    resp = _bridge(_target(user, instance_id), "GET", "/v1/files")
    return FileList(items=[FileInfo.model_validate(i) for i in resp.json().get("items", [])])


def read_file(user: User, instance_id: str, path: str) -> tuple[bytes, str | None]:
    resp = _bridge(_target(user, instance_id), "GET", f"/v1/files/{check_path(path)}")
    return resp.content, resp.headers.get("etag")


def write_file(user: User, instance_id: str, path: str, data: bytes, if_match: str | None) -> tuple[FileInfo, str | None]:
    if len(data) > MAX_FILE_BYTES:
        raise Problem(413, "Content Too Large", f"A file may be at most {MAX_FILE_BYTES} bytes.", code="body-too-large")
    headers = {"Content-Type": "application/octet-stream"}
    if if_match:
        headers["If-Match"] = if_match
    resp = _bridge(_target(user, instance_id), "PUT", f"/v1/files/{check_path(path)}", content=data, headers=headers)
    body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
    info = FileInfo.model_validate(body) if "path" in body else FileInfo(path=path, size=len(data))
    return info, resp.headers.get("etag")
