"""The Machines REST API (paths as in `fly-machines-openapi.json`, under /v1) as a Starlette app.

Errors are Fly's `{"error": "...", "status"?: "insufficient_capacity"}` with: 400 bad request,
401 bad/missing token, 404 unknown app/machine/volume/lease/key, 408 wait timeout, 409 lease held by
someone else (or machine name taken), 412 stale `machine_version`/`current_version` or wrong machine
state, 422 app name taken or no capacity; injected faults add 408/429/5xx.

Admin routes (no auth; the emulator binds to loopback): `GET /_emulator/state` (counts, to assert
nothing is left behind), `GET|DELETE /_emulator/calls` (requests answered by operation, and `proxy`;
DELETE answers them and starts counting again), `GET|POST|DELETE /_emulator/faults` (see `faults.py`),
`POST /_emulator/machines/{id}/crash`, `GET /_emulator/health`.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devstack.emulators.fly import ids
from devstack.emulators.fly.faults import ApiFault, FaultInjector
from devstack.emulators.fly.state import WAITABLE, ApiError, EmulatorState

Handler = Callable[[Request], Awaitable[Response]]
LEASE_HEADER = "fly-machine-lease-nonce"
WAIT_MAX_S = 60
ORG_PAGE_MAX = 1000


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, separators=(",", ":")), status_code=status, media_type="application/json")


def _error(status: int, message: str, fly_status: str | None = None, headers: dict[str, str] | None = None) -> Response:
    body: dict[str, str] = {"error": message}
    if fly_status:
        body["status"] = fly_status
    response = _json(body, status)
    response.headers.update(headers or {})
    return response


def _fault_response(fault: ApiFault) -> Response:
    headers = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = f"{fault.retry_after:g}"
    return _error(fault.status, fault.message, headers=headers)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise ApiError(400, f"invalid JSON body: {e}") from e
    if not isinstance(data, dict):
        raise ApiError(400, "JSON body must be an object")
    return data


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes")


def _states(request: Request, name: str = "state") -> set[str]:
    return {s.strip() for v in request.query_params.getlist(name) for s in v.split(",") if s.strip()}


class MachinesAPI:
    def __init__(self, state: EmulatorState, faults: FaultInjector, token: str | None) -> None:
        self.state = state
        self.faults = faults
        self.token = token

    # --- the wrapper every /v1 route goes through ------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme not in ("Bearer", "FlyV1") or not credential:
            return False
        if self.token is None:
            return True
        # A token from `fly tokens create` carries its scheme ("FlyV1 …") and is sent as it is.
        sent = header if self.token.startswith(("FlyV1 ", "Bearer ")) else credential
        return hmac.compare_digest(sent.encode(), self.token.encode())

    def route(self, method: str, path: str, op: str, handler: Handler) -> Route:
        async def endpoint(request: Request) -> Response:
            self.state.calls[op] += 1  # refused and faulted ones too: Fly counts every request
            if not self._authorized(request):
                return _error(401, "unauthorized")
            fault = self.faults.api_fault(op)
            if fault is not None and not fault.perform:
                return _fault_response(fault)
            try:
                response = await handler(request)
            except ApiError as e:
                response = _error(e.status, e.message, e.fly_status)
            if fault is not None:
                response = _fault_response(fault)  # the work happened; the caller is not told (ambiguous)
            if request.method not in ("GET", "HEAD"):
                self.state.changed(now=True)  # recorded before the caller hears of it
            response.headers["fly-request-id"] = ids.ulid()
            return response

        return Route(path, endpoint, methods=[method], name=op)

    # --- apps -----------------------------------------------------------------------------------

    async def list_apps(self, r: Request) -> Response:
        org = r.query_params.get("org_slug")
        if not org:
            raise ApiError(400, "org_slug is required")
        apps = [self.state.app_json(a) for a in self.state.list_apps(org)]
        return _json({"apps": apps, "total_apps": len(apps)})

    async def create_app(self, r: Request) -> Response:
        app = self.state.create_app(await _body(r))
        return _json(self.state.app_json(app), 201)

    async def get_app(self, r: Request) -> Response:
        return _json(self.state.app_json(self.state.get_app(r.path_params["app"])))

    async def delete_app(self, r: Request) -> Response:
        await self.state.delete_app(r.path_params["app"])
        return Response(status_code=202)

    # --- volumes --------------------------------------------------------------------------------

    async def list_volumes(self, r: Request) -> Response:
        app = self.state.get_app(r.path_params["app"])
        return _json([v.to_json() for v in app.volumes.values()])

    async def create_volume(self, r: Request) -> Response:
        return _json(self.state.create_volume(r.path_params["app"], await _body(r)).to_json())

    async def get_volume(self, r: Request) -> Response:
        return _json(self.state.get_volume(r.path_params["app"], r.path_params["volume"]).to_json())

    async def delete_volume(self, r: Request) -> Response:
        vol = await self.state.delete_volume(r.path_params["app"], r.path_params["volume"])
        return _json(vol.to_json())

    async def list_snapshots(self, r: Request) -> Response:
        return _json(self.state.get_volume(r.path_params["app"], r.path_params["volume"]).snapshots)

    async def create_snapshot(self, r: Request) -> Response:
        self.state.create_snapshot(r.path_params["app"], r.path_params["volume"])
        return Response(status_code=200)

    # --- machines -------------------------------------------------------------------------------

    def _machine(self, r: Request, *, live: bool = True) -> Any:
        get = self.state.live_machine if live else self.state.get_machine
        return get(r.path_params["app"], r.path_params["machine"])

    @staticmethod
    def _nonce(r: Request) -> str | None:
        return r.headers.get(LEASE_HEADER) or None

    async def list_machines(self, r: Request) -> Response:
        machines = self.state.list_machines(
            r.path_params["app"],
            states=_states(r) or None,
            region=r.query_params.get("region"),
            include_deleted=_flag(r, "include_deleted"),
        )
        summary = _flag(r, "summary")
        return _json([self.state.machine_json(m, summary=summary) for m in machines])

    async def create_machine(self, r: Request) -> Response:
        m = self.state.create_machine(r.path_params["app"], await _body(r))
        return _json(self.state.machine_json(m, with_nonce=True))

    async def get_machine(self, r: Request) -> Response:
        return _json(self.state.machine_json(self._machine(r, live=False)))

    async def update_machine(self, r: Request) -> Response:
        m = self.state.update_machine(self._machine(r, live=False), await _body(r), self._nonce(r))
        return _json(self.state.machine_json(m))

    async def start_machine(self, r: Request) -> Response:
        previous = self.state.start_machine(self._machine(r), self._nonce(r))
        return _json({"previous_state": previous})

    async def stop_machine(self, r: Request) -> Response:
        body = await _body(r)
        self.state.stop_machine(self._machine(r, live=False), body.get("signal"), body.get("timeout"), self._nonce(r))
        return _json({"ok": True})

    async def suspend_machine(self, r: Request) -> Response:
        self.state.suspend_machine(self._machine(r), self._nonce(r))
        return _json({"ok": True})

    async def restart_machine(self, r: Request) -> Response:
        q = r.query_params
        self.state.restart_machine(self._machine(r), q.get("signal"), q.get("timeout"), self._nonce(r))
        return _json({"ok": True})

    async def delete_machine(self, r: Request) -> Response:
        self.state.delete_machine(self._machine(r, live=False), _flag(r, "force"), self._nonce(r))
        return _json({"ok": True})

    async def wait_machine(self, r: Request) -> Response:
        m = self._machine(r, live=False)
        states = _states(r) or {"started"}
        if not states <= WAITABLE:
            raise ApiError(400, f"state must be one of {sorted(WAITABLE)}")
        try:
            timeout = int(r.query_params.get("timeout") or WAIT_MAX_S)
        except ValueError as e:
            raise ApiError(400, "timeout must be an integer number of seconds") from e
        version = r.query_params.get("version") or r.query_params.get("instance_id")
        result = await self.state.wait(m, states, float(max(1, min(WAIT_MAX_S, timeout))), version)
        return _json(result)

    async def list_events(self, r: Request) -> Response:
        m = self._machine(r, live=False)
        limit = int(r.query_params.get("limit") or 50)
        return _json(list(reversed(m.events))[:limit])

    async def list_org_machines(self, r: Request) -> Response:
        q = r.query_params
        states = _states(r)
        region = q.get("region")
        after = q.get("updated_after")
        cursor = q.get("cursor")
        limit = max(1, min(ORG_PAGE_MAX, int(q.get("limit") or ORG_PAGE_MAX)))
        include_deleted, summary = _flag(r, "include_deleted"), _flag(r, "summary")
        picked = sorted(
            (
                m
                for m in self.state.org_machines(r.path_params["org"])
                if (include_deleted or m.state != "destroyed")
                and (not states or m.state in states)
                and (not region or m.region == region)
                and (not after or cursor or m.updated_at > after)
                and (not cursor or m.id > cursor)
            ),
            key=lambda m: m.id,
        )
        page, more = picked[:limit], len(picked) > limit
        machines = []
        for m in page:
            item: dict[str, Any] = {
                "id": m.id,
                "app_name": m.app.name,
                "name": m.name,
                "state": m.state,
                "region": m.region,
                "instance_id": m.instance_id,
                "version": m.instance_id,
                "private_ip": m.private_ip,
                "created_at": m.created_at,
                "updated_at": m.updated_at,
            }
            if not summary:
                cfg = m.config
                item["config"] = {"image": cfg.get("image"), "guest": cfg.get("guest") or {}, "metadata": cfg.get("metadata") or {}}
            machines.append(item)
        body: dict[str, Any] = {"machines": machines}
        if page:
            body["last_machine_id"] = page[-1].id
            body["last_updated_at"] = max(m.updated_at for m in page)
        if more:
            body["next_cursor"] = page[-1].id
        return _json(body)

    # --- leases ---------------------------------------------------------------------------------

    async def get_lease(self, r: Request) -> Response:
        return _json(self.state.get_lease(self._machine(r)).to_json())

    async def acquire_lease(self, r: Request) -> Response:
        lease = self.state.acquire_lease(self._machine(r), await _body(r), self._nonce(r))
        return _json(lease.to_json(), 201)

    async def release_lease(self, r: Request) -> Response:
        self.state.release_lease(self._machine(r), self._nonce(r))
        return _json({"ok": True})

    # --- metadata -------------------------------------------------------------------------------

    async def get_metadata(self, r: Request) -> Response:
        return _json(dict(self._machine(r).metadata))

    async def put_metadata(self, r: Request) -> Response:
        self.state.update_metadata(self._machine(r), await _body(r), self._nonce(r), replace=True)
        return Response(status_code=204)

    async def patch_metadata(self, r: Request) -> Response:
        self.state.update_metadata(self._machine(r), await _body(r), self._nonce(r), replace=False)
        return Response(status_code=204)

    async def get_metadata_key(self, r: Request) -> Response:
        value = self._machine(r).metadata.get(r.path_params["key"])
        if value is None:
            raise ApiError(404, "metadata key not found")
        return _json({"value": value})

    async def set_metadata_key(self, r: Request) -> Response:
        body = await _body(r)
        self.state.set_metadata(self._machine(r), r.path_params["key"], body.get("value"), self._nonce(r))
        return Response(status_code=204)

    async def delete_metadata_key(self, r: Request) -> Response:
        self.state.delete_metadata(self._machine(r), r.path_params["key"], self._nonce(r))
        return Response(status_code=204)

    # --- admin ----------------------------------------------------------------------------------

    async def admin_state(self, r: Request) -> Response:
        return _json(self.state.counts())

    async def admin_calls(self, r: Request) -> Response:
        calls = dict(self.state.calls)
        if r.method == "DELETE":
            self.state.calls.clear()
        return _json(calls)

    async def admin_faults(self, r: Request) -> Response:
        if r.method == "POST":
            try:
                self.faults.update(await _body(r))
            except ApiError as e:
                return _error(e.status, e.message)
            except ValueError as e:  # pydantic's ValidationError
                return _error(400, str(e))
        elif r.method == "DELETE":
            self.faults.reset()
        return _json(self.faults.snapshot())

    async def admin_crash(self, r: Request) -> Response:
        m = self.state.machines.get(r.path_params["machine"])
        if m is None or m.state != "started":
            return _error(404, "no started machine with that id")
        body = await _body(r) if r.method == "POST" else {}
        await self.state.runner.crash(m, int(body.get("exit_code", 1)))
        return _json({"ok": True})

    async def admin_health(self, r: Request) -> Response:
        return _json({"ok": True, "mode": self.state.runner.mode})

    # --- the app --------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        a, m = "/v1/apps/{app}", "/v1/apps/{app}/machines/{machine}"
        v = "/v1/apps/{app}/volumes/{volume}"
        table: list[tuple[str, str, str, Handler]] = [
            ("GET", "/v1/apps", "list_apps", self.list_apps),
            ("POST", "/v1/apps", "create_app", self.create_app),
            ("GET", a, "get_app", self.get_app),
            ("DELETE", a, "delete_app", self.delete_app),
            ("GET", f"{a}/volumes", "list_volumes", self.list_volumes),
            ("POST", f"{a}/volumes", "create_volume", self.create_volume),
            ("GET", v, "get_volume", self.get_volume),
            ("DELETE", v, "delete_volume", self.delete_volume),
            ("GET", f"{v}/snapshots", "list_snapshots", self.list_snapshots),
            ("POST", f"{v}/snapshots", "create_snapshot", self.create_snapshot),
            ("GET", f"{a}/machines", "list_machines", self.list_machines),
            ("POST", f"{a}/machines", "create_machine", self.create_machine),
            ("GET", m, "get_machine", self.get_machine),
            ("POST", m, "update_machine", self.update_machine),
            ("DELETE", m, "delete_machine", self.delete_machine),
            ("POST", f"{m}/start", "start_machine", self.start_machine),
            ("POST", f"{m}/stop", "stop_machine", self.stop_machine),
            ("POST", f"{m}/suspend", "suspend_machine", self.suspend_machine),
            ("POST", f"{m}/restart", "restart_machine", self.restart_machine),
            ("GET", f"{m}/wait", "wait_machine", self.wait_machine),
            ("GET", f"{m}/events", "list_events", self.list_events),
            ("GET", f"{m}/lease", "get_lease", self.get_lease),
            ("POST", f"{m}/lease", "acquire_lease", self.acquire_lease),
            ("DELETE", f"{m}/lease", "release_lease", self.release_lease),
            ("GET", f"{m}/metadata", "get_metadata", self.get_metadata),
            ("PUT", f"{m}/metadata", "put_metadata", self.put_metadata),
            ("PATCH", f"{m}/metadata", "patch_metadata", self.patch_metadata),
            ("GET", f"{m}/metadata/{{key}}", "get_metadata_key", self.get_metadata_key),
            ("POST", f"{m}/metadata/{{key}}", "set_metadata_key", self.set_metadata_key),
            ("DELETE", f"{m}/metadata/{{key}}", "delete_metadata_key", self.delete_metadata_key),
            ("GET", "/v1/orgs/{org}/machines", "list_org_machines", self.list_org_machines),
        ]
        routes = [self.route(method, path, op, handler) for method, path, op, handler in table]
        routes += [
            Route("/_emulator/state", self.admin_state, methods=["GET"]),
            Route("/_emulator/faults", self.admin_faults, methods=["GET", "POST", "DELETE"]),
            Route("/_emulator/calls", self.admin_calls, methods=["GET", "DELETE"]),
            Route("/_emulator/machines/{machine}/crash", self.admin_crash, methods=["POST"]),
            Route("/_emulator/health", self.admin_health, methods=["GET"]),
        ]
        return routes


OPS = (
    "list_apps create_app get_app delete_app list_volumes create_volume get_volume delete_volume list_snapshots "
    "create_snapshot list_machines create_machine get_machine update_machine delete_machine start_machine "
    "stop_machine suspend_machine restart_machine wait_machine list_events get_lease acquire_lease release_lease "
    "get_metadata put_metadata patch_metadata get_metadata_key set_metadata_key delete_metadata_key list_org_machines"
).split()


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    return _error(status, "not found" if status == 404 else "method not allowed")


def build_api(state: EmulatorState, faults: FaultInjector, token: str | None) -> Starlette:
    api = MachinesAPI(state, faults, token)
    return Starlette(routes=api.routes(), exception_handlers={404: _not_found, 405: _not_found})
