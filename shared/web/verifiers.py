"""Request verifiers: the auth kinds besides the JWT a route can declare (`auth="cron"`, `auth="stripe"`, …).

A verifier checks that a request really comes from the sender it claims: Vercel Cron, Stripe, and
later each chat platform. It sees what senders sign — the raw body bytes (read once by the route
layer, within a limit that holds for chunked bodies too), the headers and the query — and raises a
`Problem` when the request is not genuine:

    401 / 403 / 400   missing, forged or stale credentials (which one is the sender's convention)
    503               the verifier's secret is not configured here

Each verifier is registered under its name when the module defining it is imported, before any route
names it; a route naming a kind nobody registered fails at declaration, so verification cannot be
forgotten or misspelt into a no-op. The OpenAPI document takes each kind's security scheme from here.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from werkzeug.datastructures import Headers

from shared.problems import unauthorized

JWT_MODES = ("required", "optional", "none")


# Named tuples, not frozen dataclasses: as immutable, read the same way, and ~1 ms less each of every
# cold start (every function declares these).
class Inbound(NamedTuple):
    """What a verifier may look at."""

    method: str
    path: str
    headers: Headers  # case-insensitive, as HTTP/2 senders lowercase names
    args: Mapping[str, str]
    body: bytes


class Verifier(Protocol):
    @property
    def name(self) -> str:
        """The `auth=` value routes use, and the OpenAPI security scheme's name."""
        ...

    @property
    def scheme(self) -> dict[str, Any]:
        """The OpenAPI security scheme object describing the credential."""
        ...

    @property
    def errors(self) -> tuple[int, ...]:
        """Problem statuses `verify` may answer (documented on every route of this kind)."""
        ...

    @property
    def max_body(self) -> int | None:
        """The most body bytes a sender of this kind sends; None: the route's or the app's limit."""
        ...

    def verify(self, inbound: Inbound) -> None:
        """Returns if the request is genuine; raises a `Problem` otherwise."""
        ...


_REGISTRY: dict[str, Verifier] = {}


def register[V: Verifier](verifier: V) -> V:
    name = verifier.name
    if name in JWT_MODES:
        raise ValueError(f"{name!r} is a JWT mode, not a verifier name")
    existing = _REGISTRY.get(name)
    if existing is not None and existing != verifier:
        raise ValueError(f"another verifier is already registered as {name!r}")
    _REGISTRY[name] = verifier
    return verifier


def lookup(name: str) -> Verifier:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join([*JWT_MODES, *sorted(_REGISTRY)])
        raise ValueError(f"unknown auth kind {name!r} (known: {known}); import the module that registers it "
                         "before declaring the route") from None


def registered() -> dict[str, Verifier]:
    return dict(_REGISTRY)


class BearerSecret(NamedTuple):
    """`Authorization: Bearer <secret>`, compared in constant time with a configured secret.

    Unconfigured counts as wrong (401), never as open: a deployment that forgot the secret refuses
    every call instead of accepting any."""

    name: str
    setting: str  # the Settings field holding the secret
    detail: str
    errors: tuple[int, ...] = (401,)
    max_body: int | None = 64 * 1024

    @property
    def scheme(self) -> dict[str, Any]:
        return {"type": "http", "scheme": "bearer", "description": f"`Authorization: Bearer ${self.setting}`"}

    def verify(self, inbound: Inbound) -> None:
        from shared.config import get_settings

        secret = getattr(get_settings(), self.setting, None)
        value = secret.get_secret_value() if secret is not None else ""
        given = inbound.headers.get("Authorization", "")
        if not value or not hmac.compare_digest(given.encode(), f"Bearer {value}".encode()):
            raise unauthorized(self.detail)


CRON = register(BearerSecret("cron", "CRON_SECRET", "Cron calls need `Authorization: Bearer $CRON_SECRET`."))
METRICS = register(BearerSecret("metrics", "METRICS_TOKEN", "Metrics scrapes need `Authorization: Bearer $METRICS_TOKEN`."))
