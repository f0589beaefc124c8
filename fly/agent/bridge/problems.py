"""Errors as `application/problem+json` (`type`, `title`, `status`, `detail`), like the platform's API;
the body is the bridge protocol's (`shared.bridge.protocol.problem`)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from shared.bridge import protocol


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    return Response(protocol.problem_bytes(status, title, detail, **extra), status_code=status,
                    media_type=protocol.PROBLEM_MEDIA_TYPE, headers=headers)


class BridgeError(Exception):
    """Raised inside handlers; the app turns it into a problem response."""

    def __init__(self, status: int, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.extra = extra

    def response(self) -> Response:
        return problem(self.status, self.title, self.detail, **self.extra)
