"""Stripe's own fixture objects (`stripe-fixtures3.json`, one example of every resource).

Every object the fake serves starts as a deep copy of the fixture for its resource; `build()` then
overlays fields. Overlaying a top-level key the fixture does not have is refused, so the fake can
never serve a shape Stripe would not (the "served from fixtures" guarantee the contract tests check).
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import string
from functools import lru_cache
from pathlib import Path
from typing import Any

# devstack/emulators/stripe/fixtures.py -> parents[3] is the repo root; the project keeps its own copy.
REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_FIXTURES_PATH = REPO_ROOT / "specs" / "stripe-fixtures3.json"
ENV_VAR = "STRIPE_FIXTURES_PATH"

# Id prefixes as Stripe issues them in test mode. Lengths of the random part follow real ids.
ID_PREFIXES: dict[str, tuple[str, int]] = {
    "account": ("acct_", 16),
    "balance_transaction": ("txn_", 24),
    "billing.meter": ("mtr_test_", 32),
    "billing.meter_event_summary": ("mtrusg_", 24),
    "billing_portal.configuration": ("bpc_", 24),
    "billing_portal.session": ("bps_", 24),
    "charge": ("ch_", 24),
    "checkout.session": ("cs_test_", 58),
    "customer": ("cus_", 14),
    "event": ("evt_", 24),
    "invoice": ("in_", 24),
    "invoice_payment": ("inpay_", 24),
    "item": ("li_", 24),
    "line_item": ("il_", 24),
    "payment_intent": ("pi_", 24),
    "payment_method": ("pm_", 24),
    "plan": ("price_", 24),
    "price": ("price_", 24),
    "product": ("prod_", 14),
    "refund": ("re_", 24),
    "subscription": ("sub_", 24),
    "subscription_item": ("si_", 14),
    "transfer": ("tr_", 24),
    "webhook_endpoint": ("we_", 24),
    # Not resources of their own, but ids Stripe hands out inside other objects.
    "destination_payment": ("py_", 24),
    "request": ("req_", 14),
    "webhook_secret": ("whsec_", 32),
}

_ALPHABET = string.ascii_letters + string.digits


def new_id(kind: str) -> str:
    prefix, length = ID_PREFIXES[kind]
    return prefix + random_token(length)


def random_token(length: int, alphabet: str = _ALPHABET) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def fixtures_path() -> Path:
    override = os.environ.get(ENV_VAR)
    return Path(override) if override else DEFAULT_FIXTURES_PATH


class FixtureError(RuntimeError):
    """The fixture file is missing, or code tried to serve a key the fixture does not have."""


class Fixtures:
    """The loaded fixture resources, handing out deep copies with fields overlaid."""

    def __init__(self, resources: dict[str, dict[str, Any]]) -> None:
        self._resources = resources

    def names(self) -> list[str]:
        return sorted(self._resources)

    def raw(self, resource: str) -> dict[str, Any]:
        """A deep copy of the fixture, untouched (what the contract tests compare keys against)."""
        try:
            return copy.deepcopy(self._resources[resource])
        except KeyError:
            raise FixtureError(f"no fixture for resource {resource!r}") from None

    def keys(self, resource: str) -> set[str]:
        return set(self._resources[resource])

    def build(self, resource: str, overlay: dict[str, Any]) -> dict[str, Any]:
        obj = self.raw(resource)
        apply(obj, overlay, resource)
        return obj


def apply(obj: dict[str, Any], overlay: dict[str, Any], resource: str | None = None) -> None:
    """Set top-level fields; refuse keys the object (hence its fixture) does not have."""
    unknown = set(overlay) - set(obj)
    if unknown:
        raise FixtureError(f"{resource or obj.get('object')}: fixture has no field(s) {sorted(unknown)}")
    for key, value in overlay.items():
        obj[key] = copy.deepcopy(value)


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise FixtureError(
            f"Stripe fixtures not found at {path}; set {ENV_VAR} to stripe-fixtures3.json"
        ) from None
    return data["resources"]


def load_fixtures(path: str | Path | None = None) -> Fixtures:
    return Fixtures(_load(str(path or fixtures_path())))
