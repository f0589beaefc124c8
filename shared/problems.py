"""RFC 9457 problem details: the one error shape of every API response.

Domain code raises `Problem` (or a helper below); the web layer turns it, and every HTTP error, into
`application/problem+json` with `type`, `title`, `status`, `detail` and the request id.
"""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://openagents.dev/problems/"


class Problem(Exception):
    def __init__(self, status: int, title: str, detail: str = "", *, code: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code
        self.headers = headers or {}
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code if self.code else "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body


def bad_request(detail: str, code: str = "bad-request", **extra: Any) -> Problem:
    return Problem(400, "Bad Request", detail, code=code, **extra)


def unauthorized(detail: str = "A valid access token is required.") -> Problem:
    return Problem(401, "Unauthorized", detail, code="unauthorized",
                   headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def forbidden(detail: str = "You may not do this.") -> Problem:
    return Problem(403, "Forbidden", detail, code="forbidden")


def not_found(what: str = "resource") -> Problem:
    return Problem(404, "Not Found", f"No such {what}.", code="not-found")


def conflict(detail: str, code: str = "conflict", **extra: Any) -> Problem:
    return Problem(409, "Conflict", detail, code=code, **extra)


def payment_required(detail: str, **extra: Any) -> Problem:
    return Problem(402, "Payment Required", detail, code="insufficient-credits", **extra)


def unavailable(detail: str, code: str = "unavailable") -> Problem:
    return Problem(503, "Service Unavailable", detail, code=code)


def too_many_requests(retry_after: int) -> Problem:
    return Problem(429, "Too Many Requests", f"Slow down; retry in {retry_after} s.", code="rate-limited",
                   headers={"Retry-After": str(retry_after)})
