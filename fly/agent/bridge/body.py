"""Reading a JSON request body with a size limit (413) and clear 400s."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from fly.agent.bridge.problems import BridgeError


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BridgeError(413, "Body too large", f"the body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BridgeError(413, "Body too large", f"the body is larger than {limit} bytes")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise BridgeError(400, "Invalid JSON", "the body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise BridgeError(400, "Invalid JSON", "the body must be a JSON object")
    return data
