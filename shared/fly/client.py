"""`FlyClient`: the Fly Machines REST API, typed, sync, over httpx.

The same client talks to api.machines.dev and to the local emulator (`devstack.emulators.fly`);
tests swap the far end through `transport=`. Retries and errors: see `shared.fly._http` and
`shared.fly.errors`.

Creates are idempotent from the caller's point of view: when a create's outcome is unknown (408, 5xx,
timeout) the resource is looked up — apps by name, volumes by name+region, machines by name or by
`openagents_instance` metadata — and an existing one is returned instead of making a second.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx

from shared.fly._http import LEASE_NONCE_HEADER, FlyHTTP, RetryableFailure, RetryPolicy
from shared.fly.config import INSTANCE_METADATA_KEY
from shared.fly.errors import FlyAPIError, FlyCapacityError, FlyNotFound, FlyTransientError
from shared.fly.models import App, Lease, Machine, MachineConfig, OrgMachine, Snapshot, Volume, WaitResult
from shared.tls import client_context

log = logging.getLogger("shared.fly")

T = TypeVar("T")
WAIT_MAX_S = 60  # Fly's proxy cuts requests at 60 s; fly-go clamps the same way
WAIT_STATES = ("started", "stopped", "suspended", "destroyed", "failed", "settled")
_GONE_VOLUME_STATES = ("destroyed", "destroying", "pending_destroy", "scheduling_destroy")


def _seg(value: str) -> str:
    """A path segment, escaped (names and ids are user-influenced)."""
    if not value:
        raise ValueError("empty path segment")
    return quote(value, safe="")


def _duration(value: float | str | None) -> str | None:
    """Seconds → Go duration ("10s", "1500ms"); strings pass through."""
    if value is None or isinstance(value, str):
        return value
    if float(value).is_integer():
        return f"{int(value)}s"
    return f"{round(value * 1000)}ms"


def _is_name_taken(err: FlyAPIError) -> bool:
    text = err.message.lower()
    return err.fly_status == "name_taken" or "already been taken" in text or "already exists" in text


class FlyClient:
    """Sync client of the Machines API.

    `base_url` is `https://api.machines.dev` (or `…/v1`, or `http://_api.internal:4280`, or the
    emulator's `url`). `timeout` is the default per-request timeout in seconds (wait() adds its own
    wait time); `retries` is how many times a transient failure is retried.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        org_slug: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        retries: int = 4,
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
        max_retry_after: float = 30.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        base = base_url.rstrip("/")
        if not base.endswith("/v1"):
            base += "/v1"
        self.base_url = base
        self.org_slug = org_slug
        self._timeout = timeout
        # Tokens from `fly tokens create` are already "FlyV1 …"; plain ones go as Bearer.
        auth = token if token.startswith(("FlyV1 ", "Bearer ")) else f"Bearer {token}"
        self._client = httpx.Client(
            base_url=base,
            transport=transport,
            verify=client_context(),
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers={"Authorization": auth, "User-Agent": "openagents-fly/1"},
        )
        policy = RetryPolicy(
            retries=retries, backoff_initial=backoff_initial, backoff_max=backoff_max, max_retry_after=max_retry_after
        )
        self._http = FlyHTTP(self._client, policy, **({"sleep": sleep} if sleep else {}))

    @classmethod
    def from_settings(cls, settings: Any | None = None, **kwargs: Any) -> FlyClient:
        """From `FLY_API_BASE`, `FLY_API_TOKEN`, `FLY_ORG` (shared.config)."""
        if settings is None:
            from shared.config import get_settings

            settings = get_settings()
        token = settings.FLY_API_TOKEN.get_secret_value() if settings.FLY_API_TOKEN else ""
        if not token:
            raise ValueError("FLY_API_TOKEN is not set")
        return cls(settings.FLY_API_BASE, token, settings.FLY_ORG, **kwargs)

    def __repr__(self) -> str:  # never shows the token
        return f"FlyClient(base_url={self.base_url!r}, org_slug={self.org_slug!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._http.request(method, path, **kwargs)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        return response.json() if response.content else None

    @staticmethod
    def _lease(nonce: str | None) -> dict[str, str] | None:
        return {LEASE_NONCE_HEADER: nonce} if nonce else None

    def _create(
        self,
        send: Callable[[], httpx.Response],
        parse: Callable[[httpx.Response], T],
        lookup: Callable[[], T | None] | None,
        *,
        exist_ok: bool = False,
    ) -> T:
        """A create that never makes a duplicate: after an ambiguous failure, look before resending."""
        ambiguous = False

        def attempt() -> T:
            nonlocal ambiguous
            if ambiguous and lookup is not None:
                found = self._lookup_quietly(lookup)
                if found is not None:
                    log.info("fly create resolved by lookup after an ambiguous failure")
                    return found
            try:
                return parse(send())
            except RetryableFailure as f:
                if f.ambiguous:
                    if lookup is None:
                        raise f.error from None  # cannot tell whether it happened: do not risk a second
                    ambiguous = True
                raise
            except FlyAPIError as e:
                # "already exists" after an ambiguous attempt is our own earlier create.
                if lookup is not None and (ambiguous or exist_ok) and _is_name_taken(e):
                    found = self._lookup_quietly(lookup)
                    if found is not None:
                        return found
                raise

        try:
            return self._http.run(attempt)
        except FlyTransientError:
            # The last attempt may have been the one that worked.
            found = self._lookup_quietly(lookup) if ambiguous and lookup is not None else None
            if found is None:
                raise
            return found

    @staticmethod
    def _lookup_quietly(lookup: Callable[[], T | None]) -> T | None:
        try:
            return lookup()
        except FlyAPIError as e:
            log.warning("fly lookup after ambiguous create failed", extra={"fields": {"error": str(e)}})
            return None

    # --- apps -----------------------------------------------------------------------------------

    def create_app(self, name: str, network: str | None = None, *, exist_ok: bool = False) -> App:
        """POST /apps. `network` isolates the app's 6PN; `exist_ok` returns our org's app of that name."""
        body: dict[str, Any] = {"name": name, "org_slug": self.org_slug}
        if network:
            body["network"] = network

        def lookup() -> App | None:
            try:
                app = self.get_app(name)
            except FlyNotFound:
                return None
            org = app.organization.slug if app.organization else None
            return app if org in (None, self.org_slug) else None

        def parse(response: httpx.Response) -> App:
            # fly-go asks for `?wait=true` and gets the App back; tolerate an empty 201 too.
            if response.content:
                return App.model_validate(response.json())
            return self.get_app(name)

        return self._create(
            lambda: self._http.once("POST", "/apps", json=body, params={"wait": "true"}),
            parse,
            lookup,
            exist_ok=exist_ok,
        )

    def get_app(self, name: str) -> App:
        return App.model_validate(self._json("GET", f"/apps/{_seg(name)}"))

    def list_apps(self, org: str | None = None) -> list[App]:
        data = self._json("GET", "/apps", params={"org_slug": org or self.org_slug}) or {}
        return [App.model_validate(a) for a in data.get("apps") or []]

    def delete_app(self, name: str, *, missing_ok: bool = False) -> None:
        try:
            self._request("DELETE", f"/apps/{_seg(name)}")
        except FlyNotFound:
            if not missing_ok:
                raise

    # --- volumes --------------------------------------------------------------------------------

    def create_volume(
        self,
        app: str,
        name: str,
        region: str,
        size_gb: int,
        *,
        encrypted: bool | None = None,
        snapshot_id: str | None = None,
        source_volume_id: str | None = None,
        snapshot_retention: int | None = None,
        auto_backup_enabled: bool | None = None,
        require_unique_zone: bool | None = None,
        fstype: str | None = None,
    ) -> Volume:
        body: dict[str, Any] = {"name": name, "region": region, "size_gb": size_gb}
        optional = {
            "encrypted": encrypted,
            "snapshot_id": snapshot_id,
            "source_volume_id": source_volume_id,
            "snapshot_retention": snapshot_retention,
            "auto_backup_enabled": auto_backup_enabled,
            "require_unique_zone": require_unique_zone,
            "fstype": fstype,
        }
        body.update({k: v for k, v in optional.items() if v is not None})

        def lookup() -> Volume | None:
            # Volume names are not unique on Fly; ours are one per app, so name + region identifies it.
            candidates = [
                v
                for v in self.list_volumes(app)
                if v.name == name and v.region == region and (v.state or "") not in _GONE_VOLUME_STATES
            ]
            candidates.sort(key=lambda v: (v.attached_machine_id is not None, v.created_at or ""))
            return candidates[0] if candidates else None

        try:
            return self._create(
                lambda: self._http.once("POST", f"/apps/{_seg(app)}/volumes", json=body),
                lambda r: Volume.model_validate(r.json()),
                lookup,
            )
        except FlyCapacityError as e:
            e.region = region
            raise

    def get_volume(self, app: str, volume_id: str) -> Volume:
        return Volume.model_validate(self._json("GET", f"/apps/{_seg(app)}/volumes/{_seg(volume_id)}"))

    def list_volumes(self, app: str) -> list[Volume]:
        return [Volume.model_validate(v) for v in self._json("GET", f"/apps/{_seg(app)}/volumes") or []]

    def delete_volume(self, app: str, volume_id: str, *, missing_ok: bool = False) -> Volume | None:
        try:
            data = self._json("DELETE", f"/apps/{_seg(app)}/volumes/{_seg(volume_id)}")
        except FlyNotFound:
            if missing_ok:
                return None
            raise
        return Volume.model_validate(data) if data else None

    def list_snapshots(self, app: str, volume_id: str) -> list[Snapshot]:
        data = self._json("GET", f"/apps/{_seg(app)}/volumes/{_seg(volume_id)}/snapshots") or []
        return [Snapshot.model_validate(s) for s in data]

    def create_snapshot(self, app: str, volume_id: str) -> None:
        """Starts an on-demand snapshot (the API answers before it is done; see list_snapshots)."""
        self._request("POST", f"/apps/{_seg(app)}/volumes/{_seg(volume_id)}/snapshots")

    # --- machines -------------------------------------------------------------------------------

    def create_machine(
        self,
        app: str,
        name: str | None,
        region: str,
        config: MachineConfig | Mapping[str, Any],
        *,
        lease_ttl: int | None = None,
        skip_launch: bool | None = None,
    ) -> Machine:
        """POST /apps/{app}/machines. A machine found by lookup (after an ambiguous failure) has no
        `nonce`: its lease, if one was asked for, belongs to the lost request and expires with its TTL."""
        cfg = config if isinstance(config, MachineConfig) else MachineConfig.model_validate(config)
        body: dict[str, Any] = {"config": cfg.to_api(), "region": region}
        if name:
            body["name"] = name
        if lease_ttl is not None:
            body["lease_ttl"] = lease_ttl
        if skip_launch is not None:
            body["skip_launch"] = skip_launch
        instance = (cfg.metadata or {}).get(INSTANCE_METADATA_KEY)

        def lookup() -> Machine | None:
            for m in self.list_machines(app):
                if name and m.name == name:
                    return m
                if not name and instance and m.metadata.get(INSTANCE_METADATA_KEY) == instance:
                    return m
            return None

        try:
            return self._create(
                lambda: self._http.once("POST", f"/apps/{_seg(app)}/machines", json=body),
                lambda r: Machine.model_validate(r.json()),
                lookup if (name or instance) else None,
            )
        except FlyCapacityError as e:
            e.region = region  # the caller's cue to try another region
            raise

    def get_machine(self, app: str, machine_id: str) -> Machine:
        return Machine.model_validate(self._json("GET", f"/apps/{_seg(app)}/machines/{_seg(machine_id)}"))

    def list_machines(
        self,
        app: str,
        state: str | Sequence[str] | None = None,
        *,
        region: str | None = None,
        metadata: Mapping[str, str] | None = None,
        include_deleted: bool = False,
        summary: bool = False,
    ) -> list[Machine]:
        """Machines of `app`; `metadata` filters client-side (all pairs must match)."""
        params: dict[str, str] = {}
        if state:
            params["state"] = state if isinstance(state, str) else ",".join(state)
        if region:
            params["region"] = region
        if include_deleted:
            params["include_deleted"] = "true"
        if summary:
            params["summary"] = "true"
        data = self._json("GET", f"/apps/{_seg(app)}/machines", params=params or None) or []
        machines = [Machine.model_validate(m) for m in data]
        if metadata:
            machines = [m for m in machines if all(m.metadata.get(k) == v for k, v in metadata.items())]
        return machines

    def list_org_machines(
        self,
        org: str | None = None,
        *,
        state: str | Sequence[str] | None = None,
        region: str | None = None,
        updated_after: str | None = None,
        include_deleted: bool = False,
        limit: int = 1000,
    ) -> Iterator[OrgMachine]:
        """Every machine of the org, following `next_cursor` (what reconcile and sweeps read)."""
        params: dict[str, str | int] = {"limit": limit}
        if state:
            params["state"] = state if isinstance(state, str) else ",".join(state)
        if region:
            params["region"] = region
        if updated_after:
            params["updated_after"] = updated_after
        if include_deleted:
            params["include_deleted"] = "true"
        path = f"/orgs/{_seg(org or self.org_slug)}/machines"
        while True:
            data = self._json("GET", path, params=params) or {}
            for m in data.get("machines") or []:
                yield OrgMachine.model_validate(m)
            cursor = data.get("next_cursor")
            if not cursor or not data.get("machines"):
                return
            params["cursor"] = cursor

    def update_machine(
        self,
        app: str,
        machine_id: str,
        config: MachineConfig | Mapping[str, Any],
        *,
        lease_nonce: str | None = None,
        current_version: str | None = None,
        skip_launch: bool | None = None,
        region: str | None = None,
        name: str | None = None,
    ) -> Machine:
        """POST /apps/{app}/machines/{id}: replaces the config (a new `instance_id`/version)."""
        cfg = config if isinstance(config, MachineConfig) else MachineConfig.model_validate(config)
        body: dict[str, Any] = {"config": cfg.to_api()}
        for key, value in (("current_version", current_version), ("skip_launch", skip_launch), ("region", region), ("name", name)):
            if value is not None:
                body[key] = value
        data = self._json(
            "POST", f"/apps/{_seg(app)}/machines/{_seg(machine_id)}", json=body, headers=self._lease(lease_nonce)
        )
        return Machine.model_validate(data)

    def _action(self, app: str, machine_id: str, action: str, *, lease_nonce: str | None = None, **kwargs: Any) -> None:
        self._request(
            "POST", f"/apps/{_seg(app)}/machines/{_seg(machine_id)}/{action}", headers=self._lease(lease_nonce), **kwargs
        )

    def start(self, app: str, machine_id: str, *, lease_nonce: str | None = None) -> None:
        self._action(app, machine_id, "start", lease_nonce=lease_nonce)

    def stop(
        self,
        app: str,
        machine_id: str,
        signal: str | None = None,
        timeout: float | str | None = None,
        *,
        lease_nonce: str | None = None,
    ) -> None:
        """`timeout` (seconds or a Go duration) before Fly sends SIGKILL. Stopping a suspended machine
        discards its snapshot."""
        body = {k: v for k, v in (("signal", signal), ("timeout", _duration(timeout))) if v is not None}
        self._action(app, machine_id, "stop", lease_nonce=lease_nonce, json=body)

    def suspend(self, app: str, machine_id: str, *, lease_nonce: str | None = None) -> None:
        self._action(app, machine_id, "suspend", lease_nonce=lease_nonce)

    def restart(
        self,
        app: str,
        machine_id: str,
        *,
        signal: str | None = None,
        timeout: float | str | None = None,
        lease_nonce: str | None = None,
    ) -> None:
        params = {k: v for k, v in (("signal", signal), ("timeout", _duration(timeout))) if v is not None}
        self._action(app, machine_id, "restart", lease_nonce=lease_nonce, params=params or None)

    def wait(
        self,
        app: str,
        machine_id: str,
        state: str = "started",
        timeout_s: float = 60,
        version: str | None = None,
        *,
        from_event_id: str | None = None,
    ) -> WaitResult:
        """Block until the machine is in `state`; `FlyTimeout` if it is not within `timeout_s`
        (clamped to 1…60 s: longer waits are the caller's loop)."""
        if state not in WAIT_STATES:
            raise ValueError(f"state must be one of {WAIT_STATES}")
        seconds = int(max(1, min(WAIT_MAX_S, round(timeout_s))))
        params: dict[str, str | int] = {"state": state, "timeout": seconds}
        if version:
            params["version"] = version
        if from_event_id:
            params["from_event_id"] = from_event_id
        read_timeout = httpx.Timeout(seconds + self._timeout, connect=self._client.timeout.connect)
        response = self._http.run(
            lambda: self._http.once(
                "GET",
                f"/apps/{_seg(app)}/machines/{_seg(machine_id)}/wait",
                params=params,
                timeout=read_timeout,
                retry_408=False,  # here 408 is the answer ("not in that state in time"), not a glitch
            )
        )
        return WaitResult.model_validate(response.json())

    def delete_machine(
        self,
        app: str,
        machine_id: str,
        force: bool = False,
        *,
        lease_nonce: str | None = None,
        missing_ok: bool = False,
    ) -> None:
        """Destroy the machine; without `force` Fly refuses a running one."""
        try:
            self._request(
                "DELETE",
                f"/apps/{_seg(app)}/machines/{_seg(machine_id)}",
                params={"force": "true"} if force else None,
                headers=self._lease(lease_nonce),
            )
        except FlyNotFound:
            if not missing_ok:
                raise

    # --- leases ---------------------------------------------------------------------------------

    def acquire_lease(
        self,
        app: str,
        machine_id: str,
        ttl_s: int = 30,
        description: str | None = None,
        *,
        nonce: str | None = None,
    ) -> Lease:
        """A lease (exclusive right to change the machine); pass the current `nonce` to refresh it.
        `FlyConflict` when someone else holds it."""
        body: dict[str, Any] = {"ttl": int(ttl_s)}
        if description:
            body["description"] = description
        data = self._json(
            "POST", f"/apps/{_seg(app)}/machines/{_seg(machine_id)}/lease", json=body, headers=self._lease(nonce)
        )
        return Lease.model_validate(data)

    def get_lease(self, app: str, machine_id: str) -> Lease | None:
        try:
            data = self._json("GET", f"/apps/{_seg(app)}/machines/{_seg(machine_id)}/lease")
        except FlyNotFound:
            return None
        return Lease.model_validate(data) if data else None

    def release_lease(self, app: str, machine_id: str, nonce: str) -> None:
        self._request(
            "DELETE", f"/apps/{_seg(app)}/machines/{_seg(machine_id)}/lease", headers={LEASE_NONCE_HEADER: nonce}
        )

    # --- metadata -------------------------------------------------------------------------------

    def get_metadata(self, app: str, machine_id: str) -> dict[str, str]:
        return dict(self._json("GET", f"/apps/{_seg(app)}/machines/{_seg(machine_id)}/metadata") or {})

    def get_metadata_value(self, app: str, machine_id: str, key: str) -> str | None:
        try:
            data = self._json("GET", f"/apps/{_seg(app)}/machines/{_seg(machine_id)}/metadata/{_seg(key)}")
        except FlyNotFound:
            return None
        return (data or {}).get("value")

    def set_metadata(self, app: str, machine_id: str, key: str, value: str, *, lease_nonce: str | None = None) -> None:
        self._request(
            "POST",
            f"/apps/{_seg(app)}/machines/{_seg(machine_id)}/metadata/{_seg(key)}",
            json={"value": value},
            headers=self._lease(lease_nonce),
        )

    def delete_metadata(self, app: str, machine_id: str, key: str, *, lease_nonce: str | None = None) -> None:
        self._request(
            "DELETE",
            f"/apps/{_seg(app)}/machines/{_seg(machine_id)}/metadata/{_seg(key)}",
            headers=self._lease(lease_nonce),
        )

    def update_metadata(
        self,
        app: str,
        machine_id: str,
        metadata: Mapping[str, str],
        *,
        machine_version: str | None = None,
        replace: bool = False,
        lease_nonce: str | None = None,
    ) -> None:
        """PATCH (merge) or PUT (`replace`) several keys at once; an empty value removes a key.
        With `machine_version`, `FlyPreconditionFailed` if the machine has moved on."""
        body: dict[str, Any] = {"metadata": dict(metadata)}
        if machine_version:
            body["machine_version"] = machine_version
        self._request(
            "PUT" if replace else "PATCH",
            f"/apps/{_seg(app)}/machines/{_seg(machine_id)}/metadata",
            json=body,
            headers=self._lease(lease_nonce),
        )

