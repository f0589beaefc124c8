"""An instance's workspace files (through its bridge)."""

from __future__ import annotations

import uuid

from flask import Response, request

from shared.chat import files
from shared.problems import not_found
from shared.web import RequestContext, Router, create_app

router = Router("files")


def _instance(instance_id: str) -> str:
    try:
        return str(uuid.UUID(instance_id))
    except ValueError:
        raise not_found("instance") from None


@router.get("/api/instances/{instance_id}/files", response=files.FileList, errors=(404, 502, 503))
def list_files(ctx: RequestContext, instance_id: str) -> files.FileList:
    """The editable files of an instance's workspace."""
    return files.list_files(ctx.user, _instance(instance_id))


@router.get("/api/instances/{instance_id}/files/{path:path}", errors=(400, 404, 502, 503))
def read_file(ctx: RequestContext, instance_id: str, path: str) -> Response:
    """One file's bytes."""
    data, etag = files.read_file(ctx.user, _instance(instance_id), path)
    resp = Response(data, mimetype="application/octet-stream")
    if etag:
        resp.headers["ETag"] = etag
    return resp


@router.put("/api/instances/{instance_id}/files/{path:path}", response=files.FileInfo, max_body=files.MAX_FILE_BYTES,
            errors=(400, 403, 404, 409, 412, 413, 502, 503))
def write_file(ctx: RequestContext, instance_id: str, path: str) -> Response:
    """Replace a file (raw bytes; `If-Match` with the ETag guards against lost updates). Signed skills are read-only."""
    info, etag = files.write_file(ctx.user, _instance(instance_id), path, request.get_data(), request.headers.get("If-Match"))
    resp = Response(info.model_dump_json(), mimetype="application/json")
    if etag:
        resp.headers["ETag"] = etag
    return resp


app = create_app(__name__, [router])
