"""Flask app factory shared by every serverless function (one app per route group)."""

from __future__ import annotations

import json
import logging
import re
import uuid

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from shared import logs, metrics
from shared.problems import Problem
from shared.web.guard import ProblemGuard
from shared.web.routes import RequestContext, Router
from shared.web.rules import LazyBuilderRule

log = logging.getLogger("openagents.http")
_RID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def problem_response(problem: Problem) -> Response:
    body = problem.to_dict()
    rid = logs.request_id.get()
    if rid:
        body["request_id"] = rid
    resp = Response(json.dumps(body, separators=(",", ":")), status=problem.status,
                    mimetype="application/problem+json")
    if rid:  # also here: a failing after_request hook can keep `_finish` from adding it
        resp.headers["X-Request-Id"] = rid
    for k, v in problem.headers.items():
        resp.headers[k] = v
    return resp


def _http_problem(exc: HTTPException) -> Problem:
    status = exc.code or 500
    valid_methods: list[str] = list(getattr(exc, "valid_methods", None) or [])  # set on 405s only
    detail = {
        404: "No route matches this path.",
        405: f"Use one of: {', '.join(sorted(valid_methods))}." if valid_methods
        else "This method is not allowed here.",
        413: "The request body is too large.",
        500: "Something went wrong on our side; the request id identifies it.",
    }.get(status, exc.description or "")
    headers = {}
    if status == 405 and valid_methods:
        headers["Allow"] = ", ".join(sorted(valid_methods))
    code = {400: "bad-request", 404: "not-found", 405: "method-not-allowed", 413: "body-too-large",
            415: "unsupported-media-type", 431: "headers-too-large", 500: "internal"}.get(status)
    return Problem(status, exc.name, detail, code=code, headers=headers)


def _database_problem(exc: Exception) -> Problem | None:
    """Maps the constraint errors a hostile request can provoke to 4xx; anything else stays a 500."""
    mod = type(exc).__module__
    if not mod.startswith("psycopg"):
        return None
    from psycopg import errors as e

    if isinstance(exc, e.UniqueViolation):
        return Problem(409, "Conflict", "That already exists.", code="already-exists")
    # The declared routes refuse NUL, unpaired surrogates and forged cursors before any SQL; the
    # value errors below remain as a backstop for input that reaches a cast some other way.
    if isinstance(exc, e.CheckViolation | e.NotNullViolation | e.StringDataRightTruncation |
                   e.NumericValueOutOfRange | e.InvalidTextRepresentation | e.InvalidParameterValue |
                   e.InvalidDatetimeFormat | e.DatetimeFieldOverflow | e.UntranslatableCharacter |
                   e.CharacterNotInRepertoire | e.InvalidBinaryRepresentation) or type(exc) is e.DataError:
        # (a bare DataError is psycopg's own refusal to send a NUL byte in a text parameter)
        return Problem(422, "Unprocessable Content", "A value is out of range or malformed.",
                       code="validation-failed")
    if isinstance(exc, e.ForeignKeyViolation):
        return Problem(422, "Unprocessable Content", "A referenced item does not exist.", code="invalid-reference")
    if isinstance(exc, e.InsufficientPrivilege):
        return Problem(403, "Forbidden", "You may not do this.", code="forbidden")
    return None


def create_app(import_name: str, routers: list[Router]) -> Flask:
    from shared.config import get_settings

    settings = get_settings()
    logs.configure(settings.LOG_LEVEL)
    logs.register_secrets(settings.secret_values())

    # No static folder: these functions serve JSON only, and Flask's default `/static/<path:filename>`
    # rule pointed at a folder that does not exist.
    app = Flask(import_name, static_folder=None)
    app.url_rule_class = LazyBuilderRule  # before the routers add their rules
    app.config["MAX_CONTENT_LENGTH"] = settings.MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False  # a redirect would answer 308 instead of a problem

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        rid = incoming if _RID.match(incoming) else uuid.uuid4().hex
        g.token = logs.request_id.set(rid)
        g.timer = logs.Timer()
        g.ctx = RequestContext(request_id=rid)

    @app.after_request
    def _finish(resp: Response) -> Response:
        rid = logs.request_id.get()
        if rid:
            resp.headers["X-Request-Id"] = rid
        resp.headers.setdefault("Cache-Control", "no-store")
        resp.headers["X-Content-Type-Options"] = "nosniff"
        ctx: RequestContext | None = getattr(g, "ctx", None)
        user = ctx.signed_in if ctx is not None else None
        ms = g.timer.ms if hasattr(g, "timer") else None
        logs.log(log, logging.INFO, "request", method=request.method, path=request.path, status=resp.status_code,
                 ms=ms, user_id=user.id if user is not None else None)
        # By the rule, not the path: one series per route however many ids pass through it.
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.record_request(rule, request.method, resp.status_code, (ms or 0.0) / 1000)
        return resp

    @app.teardown_request
    def _teardown(_exc: BaseException | None) -> None:
        token = g.pop("token", None)
        if token is not None:
            logs.request_id.reset(token)

    @app.errorhandler(Problem)
    def _problem(exc: Problem) -> Response:
        return problem_response(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return problem_response(_http_problem(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        mapped = _database_problem(exc)
        if mapped is not None:
            logs.log(log, logging.WARNING, "request rejected by the database", error=type(exc).__name__)
            return problem_response(mapped)
        log.exception("unhandled error")
        return problem_response(Problem(500, "Internal Server Error",
                                        "Something went wrong on our side; the request id identifies it.",
                                        code="internal"))

    for r in routers:
        r.install(app)
    # Errors past the view (inside a streamed body, in a handler or hook) become problems too.
    app.wsgi_app = ProblemGuard(app.wsgi_app)  # type: ignore[method-assign]
    return app


