"""Declared routes: one decorator parses and validates input, authenticates, and documents.

Because input parsing, authentication and the OpenAPI entry come from the same declaration, a route
cannot forget to verify a token or to validate its body, and the document cannot drift from the code.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from flask import Flask, Response, g, request
from pydantic import BaseModel, ValidationError

from shared.problems import Problem, unauthorized

AuthMode = Literal["required", "optional", "none"]
_PARAM = re.compile(r"\{(\w+)(?::path)?\}")


@dataclass(slots=True)
class RequestContext:
    request_id: str
    user: Any = None  # shared.auth.User when signed in

    @property
    def user_id(self) -> str:
        if self.user is None:
            raise unauthorized()
        return self.user.id


@dataclass
class Endpoint:
    method: str
    path: str  # OpenAPI style: /api/agents/{slug}
    handler: Callable[..., Any]
    auth: AuthMode
    query: type[BaseModel] | None
    body: type[BaseModel] | None
    response: Any
    status: int
    summary: str
    tags: list[str]
    errors: tuple[int, ...]
    stream: bool = False
    max_body: int | None = None

    @property
    def flask_rule(self) -> str:
        return _PARAM.sub(lambda m: f"<path:{m.group(1)}>" if m.group(0).endswith(":path}") else f"<{m.group(1)}>",
                          self.path)

    @property
    def openapi_path(self) -> str:
        return self.path.replace(":path}", "}")


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


def parse_query(model: type[BaseModel]) -> BaseModel:
    raw: dict[str, Any] = {}
    for key in request.args:
        info = model.model_fields.get(key)
        raw[key] = request.args.getlist(key) if info is not None and _is_list(info.annotation) \
            else request.args.get(key)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _problem_from_validation(exc, "query") from None


def parse_json_body(model: type[BaseModel]) -> BaseModel:
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise Problem(415, "Unsupported Media Type", "Send the body as application/json.",
                      code="unsupported-media-type")
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Problem(400, "Bad Request", "The body is not valid JSON.", code="malformed-json") from None
    if not isinstance(data, dict):
        raise Problem(422, "Unprocessable Content", "The body must be a JSON object.", code="validation-failed")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _problem_from_validation(exc, "body") from None


def authenticate(mode: AuthMode) -> Any:
    if mode == "none":
        return None
    from shared.auth import bearer_token, verify_access_token
    from shared.config import get_settings

    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        if mode == "required":
            raise unauthorized()
        return None
    return verify_access_token(token, get_settings())


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
    name: str
    endpoints: list[Endpoint] = field(default_factory=list)

    def route(self, method: str, path: str, *, auth: AuthMode = "required", query: type[BaseModel] | None = None,
              body: type[BaseModel] | None = None, response: Any = None, status: int = 200, summary: str = "",
              errors: tuple[int, ...] = (), stream: bool = False, max_body: int | None = None,
              tags: list[str] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.endpoints.append(Endpoint(method.upper(), path, fn, auth, query, body, response, status,
                                           summary or (fn.__doc__ or "").strip().split("\n")[0],
                                           tags or [self.name], errors, stream, max_body))
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
        if ep.max_body is not None and (request.content_length or 0) > ep.max_body:
            raise Problem(413, "Content Too Large", f"The body may be at most {ep.max_body} bytes.",
                          code="body-too-large")
        ctx: RequestContext = g.ctx
        ctx.user = authenticate(ep.auth)
        kwargs: dict[str, Any] = dict(path_params)
        if ep.query is not None:
            kwargs["query"] = parse_query(ep.query)
        if ep.body is not None:
            kwargs["body"] = parse_json_body(ep.body)
        return _serialize(ep.handler(ctx, **kwargs), ep.status)

    view.__name__ = ep.handler.__name__
    return view
