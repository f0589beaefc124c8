"""Errors as `application/problem+json` (`type`, `title`, `status`, `detail`), like the platform's API."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

PROBLEM_TYPE = "about:blank"


def problem_body(status: int, title: str, detail: str, **extra: Any) -> bytes:
    return json.dumps({"type": PROBLEM_TYPE, "title": title, "status": status, "detail": detail, **extra}).encode()


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    return Response(problem_body(status, title, detail, **extra), status_code=status,
                    media_type="application/problem+json", headers=headers)


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
