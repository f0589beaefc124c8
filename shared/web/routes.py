"""Declared routes: one decorator parses and validates input, authenticates, and documents.

Because input parsing, authentication and the OpenAPI entry come from the same declaration, a route
cannot forget to verify a token or to validate its body, and the document cannot drift from the code.
"""

from __future__ import annotations

import json
import re
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from flask import Flask, Response, g, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from shared.problems import Problem, not_found, unauthorized
from shared.ratelimit import RateLimit
from shared.web import verifiers
from shared.web.inputs import check_line, line_is_clean, load_json
from shared.web.verifiers import Inbound, Verifier

if TYPE_CHECKING:
    from shared.auth import User

# `auth=` is one of the JWT modes or the name of a registered verifier (shared.web.verifiers).
AuthMode = Literal["required", "optional", "none"]
# Path parameters: `{name}` one segment, `{name:path}` the rest of the path (slashes included),
# `{name:uuid}` a UUID — the handler gets its canonical string, anything else answers 404.
PARAM_PATTERN = re.compile(r"\{(\w+)(?::(\w+))?\}")
PARAM_KINDS = ("string", "path", "uuid")


@dataclass(slots=True)
class RequestContext:
    """What a handler gets first: the request's id, and who sent it."""

    request_id: str
    signed_in: User | None = None  # set on routes with a JWT mode when a valid token came
    raw_body: bytes | None = None  # set on routes with a verifier: the exact bytes it checked

    @property
    def user(self) -> User:
        """The signed-in user (routes with `auth="required"` always have one)."""
        if self.signed_in is None:
            raise unauthorized()
        return self.signed_in

    @property
    def user_id(self) -> str:
        return self.user.id

    @property
    def verified_body(self) -> bytes:
        """The raw body as the route's verifier checked it."""
        if self.raw_body is None:
            raise RuntimeError("only routes declared with a verifier auth kind read the raw body up front")
        return self.raw_body


@dataclass(frozen=True)
class Upload:
    """A request body the handler reads itself (`read_body(limit)`), for routes that take more than JSON:
    `json` documents the application/json form, `media_types` the others (as binary)."""
    json: type[BaseModel] | None
    media_types: tuple[str, ...]
    limit: int


@dataclass
class Endpoint:
    """One declared route: what the view checks and parses, and what the OpenAPI document says."""

    method: str
    path: str  # /api/agents/{slug}, /api/instances/{instance_id:uuid}, …/files/{path:path}
    handler: Callable[..., Any]
    auth: str  # a JWT mode or a verifier's name
    query: type[BaseModel] | None
    body: type[BaseModel] | None
    response: Any
    status: int
    summary: str
    tags: list[str]
    errors: tuple[int, ...]
    stream: bool = False
    max_body: int | None = None
    verifier: Verifier | None = None
    dev_only: bool = False  # exists in `dev` and `test` only: 404 and left out of the document in production
    upload: Upload | None = None  # documented here; the handler reads and parses the body
    rate_limit: RateLimit | None = None  # counted per subject before the handler runs (shared.ratelimit)
    also: tuple[str, ...] = ()  # other media types the handler may answer with (documented as text)
    # The handler's first transaction refuses a deleted account itself (`shared.security.account_gate`),
    # so authentication skips its own read: one round trip fewer in front of the work. Only for a
    # handler that does, before it reads or writes anything else (the chat stream).
    gate_in_handler: bool = False
    # Likewise for `rate_limit`: the handler's first transaction counts it (the chat stream's opening).
    limit_in_handler: bool = False

    def __post_init__(self) -> None:
        for name, kind in self.path_params.items():
            if kind not in PARAM_KINDS:
                raise ValueError(f"{self.path}: parameter {name!r} has unknown type {kind!r} (use {PARAM_KINDS})")
        if self.auth not in verifiers.JWT_MODES and self.verifier is None:
            self.verifier = verifiers.lookup(self.auth)

    @property
    def path_params(self) -> dict[str, str]:
        """Each path parameter's name and type, in order."""
        return {m.group(1): m.group(2) or "string" for m in PARAM_PATTERN.finditer(self.path)}

    @property
    def flask_rule(self) -> str:
        # uuid parameters match any segment: the view turns a malformed one into a 404 problem after
        # authentication, as it would for an id that does not exist.
        return PARAM_PATTERN.sub(lambda m: f"<path:{m.group(1)}>" if m.group(2) == "path" else f"<{m.group(1)}>",
                                 self.path)

    @property
    def openapi_path(self) -> str:
        return PARAM_PATTERN.sub(lambda m: f"{{{m.group(1)}}}", self.path)


def _problem_from_validation(exc: ValidationError, where: str) -> Problem:
    errors = [
        {"loc": [where, *[str(p) for p in e["loc"]]], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_input=False, include_url=False)
    ]
    return Problem(422, "Unprocessable Content", f"The {where} is not valid.", code="validation-failed",
                   errors=errors)


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set):
        return True
    return any(_is_list(a) for a in typing.get_args(annotation) if a is not type(None)) if origin else False


def query_name(name: str, info: Any) -> str:
    """A query field's name on the wire: its alias when it has one (`from`, a keyword in Python)."""
    alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
    return alias or name


def parse_query(model: type[BaseModel]) -> BaseModel:
    fields = {query_name(n, f): f for n, f in model.model_fields.items()}
    raw: dict[str, Any] = {}
    for key in request.args:
        values = request.args.getlist(key)
        for text in (key, *values):
            check_line(text, ["query", key])
        info = fields.get(key)
        raw[key] = values if info is not None and _is_list(info.annotation) else values[0]
    try:
        # Only the documented names: a field's Python name (`from_`) is not a second spelling.
        return model.model_validate(raw, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise _problem_from_validation(exc, "query") from None


def parse_json_body(model: type[BaseModel], limit: int) -> BaseModel:
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise Problem(415, "Unsupported Media Type", "Send the body as application/json.",
                      code="unsupported-media-type")
    data = load_json(read_body(limit))  # depth and characters checked before pydantic sees it
    if not isinstance(data, dict):
        raise Problem(422, "Unprocessable Content", "The body must be a JSON object.", code="validation-failed")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _problem_from_validation(exc, "body") from None


def authenticate(mode: AuthMode, *, gate: bool = True) -> User | None:
    if mode == "none":
        return None
    from shared.auth import bearer_token, verify_access_token
    from shared.config import get_settings

    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        if mode == "required":
            raise unauthorized()
        return None
    user = verify_access_token(token, get_settings())
    if gate:
        from shared.security.account_gate import refuse_deleted

        refuse_deleted(user)  # a deleted account's unexpired tokens are refused too
    return user


def read_body(limit: int) -> bytes:
    """The raw body, at most `limit` bytes, else 413 — also for a chunked body, which has no
    Content-Length to check up front. The request's limit, set before the first read, bounds what
    werkzeug reads; a stream that reaches its limit ends quietly there, so it is set one byte higher
    and a body that fills it is the one that was too large."""
    too_large = Problem(413, "Content Too Large", f"The body may be at most {limit} bytes.", code="body-too-large")
    request.max_content_length = limit + 1
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:  # a declared Content-Length over the limit: refused before reading
        raise too_large from None
    if len(data) > limit:
        raise too_large
    return data


def verify_request(verifier: Verifier, limit: int) -> bytes:
    """Runs the route's verifier over the raw body and headers; returns the body it checked."""
    body = read_body(limit)
    verifier.verify(Inbound(method=request.method, path=request.path, headers=request.headers, args=request.args,
                            body=body))
    return body


def _path_values(ep: Endpoint, given: dict[str, Any]) -> dict[str, Any]:
    values = dict(given)
    for name, kind in ep.path_params.items():
        if kind == "uuid":
            try:
                values[name] = str(uuid.UUID(str(values[name])))
            except ValueError:
                raise not_found(name.removesuffix("_id").replace("_", " ")) from None
    return values


def _serialize(result: Any, status: int) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, tuple):
        result, status = result
    if isinstance(result, BaseModel):
        payload = result.model_dump_json(by_alias=True)
    else:
        payload = json.dumps(_jsonable(result), separators=(",", ":"))
    return Response(payload, status=status, mimetype="application/json")


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass
class Router:
    """A group of declared routes, installed on an app together."""

    name: str
    endpoints: list[Endpoint] = field(default_factory=list)

    def route(self, method: str, path: str, *, auth: str = "required", query: type[BaseModel] | None = None,
              body: type[BaseModel] | None = None, response: Any = None, status: int = 200, summary: str = "",
              errors: tuple[int, ...] = (), stream: bool = False, max_body: int | None = None,
              tags: list[str] | None = None, dev_only: bool = False,
              upload: Upload | None = None,
              rate_limit: RateLimit | None = None,
              also: tuple[str, ...] = (),
              gate_in_handler: bool = False,
              limit_in_handler: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        if rate_limit is not None and 429 not in errors:
            errors = (*errors, 429)

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.endpoints.append(Endpoint(method.upper(), path, fn, auth, query, body, response, status,
                                           summary or (fn.__doc__ or "").strip().split("\n")[0],
                                           tags or [self.name], errors, stream, max_body, dev_only=dev_only,
                                           upload=upload, rate_limit=rate_limit, also=also,
                                           gate_in_handler=gate_in_handler, limit_in_handler=limit_in_handler))
            return fn
        return decorate

    def get(self, path: str, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.route("DELETE", path, **kw)

    def install(self, app: Flask) -> None:
        for ep in self.endpoints:
            app.add_url_rule(ep.flask_rule, endpoint=f"{self.name}.{ep.handler.__name__}",
                             view_func=_view(ep), methods=[ep.method])


def _view(ep: Endpoint) -> Callable[..., Response]:
    def view(**path_params: Any) -> Response:
        if ep.dev_only and _production():
            raise not_found("route")  # as if it were not there: before reading anything the client sent
        if ep.max_body is not None and (request.content_length or 0) > ep.max_body:
            raise Problem(413, "Content Too Large", f"The body may be at most {ep.max_body} bytes.",
                          code="body-too-large")
        ctx: RequestContext = g.ctx
        if ep.verifier is not None:
            ctx.raw_body = verify_request(ep.verifier, ep.max_body or ep.verifier.max_body or _app_limit())
        else:
            ctx.signed_in = authenticate(typing.cast(AuthMode, ep.auth), gate=not ep.gate_in_handler)
        _check_path(path_params)
        limit = ep.rate_limit if not ep.limit_in_handler else None
        if limit is not None and not limit.reads_body:
            _count(limit, ctx, None)
        kwargs: dict[str, Any] = _path_values(ep, path_params)
        if ep.query is not None:
            kwargs["query"] = parse_query(ep.query)
        if ep.body is not None:
            kwargs["body"] = parse_json_body(ep.body, ep.max_body or _app_limit())
        if limit is not None and limit.reads_body:
            _count(limit, ctx, kwargs.get("body"))
        elif ep.max_body is not None and ep.verifier is None:
            # A raw body (a file): read here, within the limit whatever the framing; the handler's
            # `request.get_data()` then returns these same bytes (werkzeug keeps what was read).
            read_body(ep.max_body)
        return _serialize(ep.handler(ctx, **kwargs), ep.status)

    view.__name__ = ep.handler.__name__
    return view


def _count(limit: RateLimit, ctx: RequestContext, body: BaseModel | None) -> None:
    from shared import ratelimit

    subject = limit.key(ctx, body) if limit.key is not None else None
    if subject is None:
        subject = ctx.signed_in.id if ctx.signed_in is not None else ratelimit.client_address()
    ratelimit.enforce(limit, subject)


def _production() -> bool:
    from shared.config import get_settings

    return get_settings().is_production


def _check_path(values: dict[str, Any]) -> None:
    """A path segment holding a control character names nothing that exists: 404, like a bad id."""
    for name, value in values.items():
        if isinstance(value, str) and not line_is_clean(value):
            raise not_found(name.removesuffix("_id").replace("_", " "))


def _app_limit() -> int:
    from flask import current_app

    return int(current_app.config.get("MAX_CONTENT_LENGTH") or 1 << 20)
