"""Check Machines API traffic against Fly's OpenAPI file (the project's copy, `specs/fly-machines-openapi.json`).

For tests: `SpecCheckingTransport` wraps the transport of a `FlyClient`, validates every request the
client sends and every response it gets back, and collects what does not conform in `violations`.
Needs the dev dependency `openapi-core` (imported when a `FlySpec` is built).

Requests are checked strictly: path + method must exist, query parameters must be declared, body and
parameters must match their schemas, and objects may not carry properties the spec does not name
(typos like `app_name` for `name` are caught). Responses are checked leniently (Fly adds fields).

Tolerated deviations of the spec file (each one is asserted by `tests/contract/test_fly_spec.py`, so
a newer spec that fixes it makes that test fail and the tolerance can go):
- T1 the file is not a valid OpenAPI document (duplicate operationIds, e.g. `Machines_update_metadata`
  on PUT and PATCH) → spec self-validation is skipped.
- T2 responses documented as `content: {}` (start/stop/suspend/restart/delete/lease release/snapshot
  create…) describe no body; Fly answers small JSON objects there → any body is accepted.
- T3 `POST /apps` documents `201` with no body, but Fly (with `?wait=true`, as fly-go calls it)
  answers the App → that response is validated as `App`, and the `wait` query parameter is allowed.
- T4 error statuses Fly uses (CONTRACTS A.1: 401, 404, 408, 409, 412, 422, 429, 5xx) are mostly not
  listed per operation → any undocumented 4xx/5xx must carry an `ErrorResponse` body.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

SPEC_HOST = "https://api.machines.dev"
SPEC_BASE_PATH = "/v1"
ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
APP_REF = {"$ref": "#/components/schemas/App"}
# T3: query parameters our client sends that the spec does not declare.
EXTRA_QUERY_PARAMS: dict[tuple[str, str], frozenset[str]] = {("post", "/apps"): frozenset({"wait"})}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


class _Req:
    """openapi-core's request protocol over an httpx request."""

    def __init__(self, request: httpx.Request, path: str) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.host_url = SPEC_HOST
        self.path = path
        self.method = request.method.lower()
        self.body: bytes | None = request.content or None
        self.content_type = request.headers.get("content-type", "")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(),
        )


class _Resp:
    def __init__(self, response: httpx.Response) -> None:
        from werkzeug.datastructures import Headers

        self.status_code = response.status_code
        self.data: bytes | None = response.content or None
        self.headers = Headers(list(response.headers.items()))
        self.content_type = response.headers.get("content-type", "")


def _strict(schema: Any) -> None:
    """additionalProperties: false on every object schema that names its properties."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema and not {"allOf", "anyOf", "oneOf"} & schema.keys():
            schema["additionalProperties"] = False
        for value in schema.values():
            _strict(value)
    elif isinstance(schema, list):
        for value in schema:
            _strict(value)


class FlySpec:
    def __init__(self, path: Path) -> None:
        from openapi_core import OpenAPI
        from openapi_core.configurations import Config

        self.path = path
        self.raw: dict[str, Any] = json.loads(path.read_text())
        patched = self._tolerate(copy.deepcopy(self.raw))
        strict = copy.deepcopy(patched)
        _strict(strict["components"]["schemas"])
        config = Config(spec_validator_cls=None)  # T1
        self.requests = OpenAPI.from_dict(strict, config=config)
        self.responses = OpenAPI.from_dict(patched, config=config)
        self._patterns = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), p) for p in sorted(self.raw["paths"], key=lambda p: p.count("{"))
        ]

    @staticmethod
    def _tolerate(spec: dict[str, Any]) -> dict[str, Any]:
        for path, item in spec["paths"].items():
            for method, op in item.items():
                if method not in METHODS:
                    continue
                responses = op.setdefault("responses", {})
                for status, response in responses.items():
                    if response.get("content") == {}:
                        del response["content"]  # T2
                    if (method, path, status) == ("post", "/apps", "201"):
                        response["content"] = {"application/json": {"schema": APP_REF}}  # T3
                for family in ("4XX", "5XX"):  # T4
                    responses.setdefault(family, {"description": "Fly error", "content": {"application/json": {"schema": ERROR_REF}}})
        return spec

    def operation(self, method: str, url_path: str) -> tuple[str, dict[str, Any]] | None:
        """The spec path (e.g. `/apps/{app_name}`) and operation for a request path under /v1."""
        if not url_path.startswith(SPEC_BASE_PATH + "/"):
            return None
        rel = url_path[len(SPEC_BASE_PATH) :]
        for pattern, spec_path in self._patterns:
            if pattern.match(rel):
                op = self.raw["paths"][spec_path].get(method.lower())
                if op is not None:
                    return spec_path, op
        return None

    def check_request(self, request: httpx.Request) -> list[str]:
        where = f"{request.method} {request.url.path}"
        found = self.operation(request.method, request.url.path)
        if found is None:
            return [f"{where}: no such operation in the spec"]
        spec_path, op = found
        problems: list[str] = []
        declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
        declared |= EXTRA_QUERY_PARAMS.get((request.method.lower(), spec_path), frozenset())
        for name in request.url.params:
            if name not in declared:
                problems.append(f"{where}: undeclared query parameter {name!r}")
        auth = request.headers.get("authorization", "")
        if not auth.startswith(("Bearer ", "FlyV1 ")):
            problems.append(f"{where}: no bearer token")
        if request.content and not request.headers.get("content-type", "").startswith("application/json"):
            problems.append(f"{where}: body is not application/json")
        for error in self.requests.iter_request_errors(_Req(request, request.url.path)):
            problems.append(f"{where}: {_describe(error)}")
        return problems

    def check_response(self, request: httpx.Request, response: httpx.Response) -> list[str]:
        where = f"{request.method} {request.url.path} → {response.status_code}"
        if self.operation(request.method, request.url.path) is None:
            return []  # already reported for the request
        return [f"{where}: {_describe(e)}" for e in self.responses.iter_response_errors(_Req(request, request.url.path), _Resp(response))]


def _describe(error: Exception) -> str:
    parts = [f"{type(error).__name__}: {error}"]
    cause = error.__cause__
    while cause is not None:
        detail = getattr(cause, "schema_errors", None)
        parts.append(f"{type(cause).__name__}: {cause}" + (f" {[str(e.message) for e in detail]}" if detail else ""))
        cause = cause.__cause__
    return " <- ".join(parts)


SPEC_RELATIVE = Path("specs/fly-machines-openapi.json")
SPEC_PATH = Path(__file__).resolve().parents[3] / SPEC_RELATIVE


def find_spec(repo_root: Path | None = None) -> Path:
    """The project's own copy of the spec (`specs/`, with its SOURCE note). Missing is an error, never
    a reason to skip a contract test."""
    path = (repo_root / SPEC_RELATIVE) if repo_root is not None else SPEC_PATH
    if not path.is_file():
        raise FileNotFoundError(f"Fly's OpenAPI file is missing at {path}")
    return path


@functools.cache
def load_spec(path: Path) -> FlySpec:
    """One parsed spec per file per process (building it takes ~0.5 s)."""
    return FlySpec(path)


class SpecCheckingTransport(httpx.BaseTransport):
    """Validates each exchange; the test asserts `violations` is empty at the end."""

    def __init__(self, spec: FlySpec, inner: httpx.BaseTransport | None = None) -> None:
        self.spec = spec
        self.inner = inner or httpx.HTTPTransport()
        self.violations: list[str] = []
        self.seen: Counter[tuple[str, str, int]] = Counter()  # (method, spec path, status)
        self.history: list[tuple[str, str, int]] = []  # (method, url path?query, status), in order
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        problems = self.spec.check_request(request)
        response = self.inner.handle_request(request)
        response.read()
        problems += self.spec.check_response(request, response)
        found = self.spec.operation(request.method, request.url.path)
        with self._lock:
            self.violations.extend(problems)
            if found:
                self.seen[(request.method, found[0], response.status_code)] += 1
            query = f"?{request.url.query.decode()}" if request.url.query else ""
            self.history.append((request.method, request.url.path + query, response.status_code))
        return response

    def close(self) -> None:
        self.inner.close()
