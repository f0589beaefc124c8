"""An instance's workspace files (through its bridge). A read carries the file's metadata in headers
(`ETag`, `x-file-size`, `x-file-modified-at`, `x-file-origin`, `x-file-editable`: the bridge
protocol's names); a write answers the same metadata as JSON, with the new `ETag`."""

from __future__ import annotations

from flask import Response, request

from shared.bridge import protocol
from shared.chat import files
from shared.web import RequestContext, Router, create_app

router = Router("files")


@router.get("/api/instances/{instance_id:uuid}/files", response=files.FileList, errors=(404, 502, 503))
def list_files(ctx: RequestContext, instance_id: str) -> files.FileList:
    """The editable files of an instance's workspace."""
    return files.list_files(ctx.user, instance_id)


@router.get("/api/instances/{instance_id:uuid}/files/{path:path}", errors=(400, 404, 502, 503))
def read_file(ctx: RequestContext, instance_id: str, path: str) -> Response:
    """One file's bytes; its metadata in headers."""
    got = files.read_file(ctx.user, instance_id, path)
    resp = Response(got.data, mimetype="application/octet-stream")
    if got.etag:
        resp.headers[protocol.ETAG] = got.etag
    resp.headers.update(files.metadata_headers(got.info))
    return resp


@router.put("/api/instances/{instance_id:uuid}/files/{path:path}", response=files.FileInfo, max_body=files.MAX_FILE_BYTES,
            errors=(400, 403, 404, 409, 412, 413, 502, 503))
def write_file(ctx: RequestContext, instance_id: str, path: str) -> Response:
    """Replace a file (raw bytes; `If-Match` with the ETag guards against lost updates). Signed skills are read-only."""
    info, etag = files.write_file(ctx.user, instance_id, path, request.get_data(), request.headers.get("If-Match"))
    resp = Response(info.model_dump_json(), mimetype="application/json")
    if etag:
        resp.headers[protocol.ETAG] = etag
    return resp


app = create_app(__name__, [router])
