"""Connect: accounts (controller properties or legacy `type`), onboarding links, transfers.

A new account is not onboarded (requirements due, capabilities inactive, payouts disabled), so a
transfer to it fails with Stripe's `insufficient_capabilities_for_transfer` until onboarding is
completed (the link's page, or `POST /_fake/accounts/{id}/onboard`), which sends `account.updated`.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from ..context import Call
from ..errors import StripeError
from ..fixtures import new_id, random_token
from ..listing import list_envelope, paginate
from ..params import as_bool, as_dict, as_int, merge_metadata, require
from ..store import changed

_CURRENCIES = {
    "US": "usd",
    "GB": "gbp",
    "CA": "cad",
    "AU": "aud",
    "JP": "jpy",
    "CH": "chf",
    "SE": "sek",
    "DK": "dkk",
    "NO": "nok",
    "NZ": "nzd",
    "SG": "sgd",
    "HK": "hkd",
    "IN": "inr",
    "MX": "mxn",
    "BR": "brl",
}
_ACCOUNT_TYPES = ("standard", "express", "custom")
_BUSINESS_PROFILE_FIELDS = (
    "mcc",
    "name",
    "product_description",
    "support_email",
    "support_phone",
    "support_url",
    "url",
)


def create_account(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    account_type = params.get("type") or None
    controller_params = as_dict(params, "controller")
    if account_type and controller_params:
        raise StripeError.invalid("You cannot specify both `type` and `controller`.", param="controller")
    if account_type and account_type not in _ACCOUNT_TYPES:
        raise StripeError.invalid("Invalid type: must be one of custom, express, or standard", param="type")
    country = (params.get("country") or "US").upper()
    account_id = new_id("account")
    requested = [
        name
        for name, opts in as_dict(params, "capabilities").items()
        if isinstance(opts, dict) and as_bool(opts.get("requested"))
    ]
    account = call.store.create(
        "account",
        {
            "id": account_id,
            "type": account_type or _type_from_controller(controller_params),
            "controller": _controller(account_type, controller_params),
            "country": country,
            "email": params.get("email") or None,
            "default_currency": params.get("default_currency") or _CURRENCIES.get(country, "usd"),
            "business_type": params.get("business_type") or None,
            "metadata": merge_metadata({}, params.get("metadata")),
            "capabilities": {name: "inactive" for name in requested},
            "charges_enabled": False,
            "payouts_enabled": False,
            "details_submitted": False,
            "external_accounts": list_envelope(f"/v1/accounts/{account_id}/external_accounts", []),
        },
    )
    _apply_business_profile(account, as_dict(params, "business_profile"))
    return account


def _type_from_controller(controller: dict[str, Any]) -> str:
    """The legacy `type` Stripe reports for an account made with controller properties."""
    dashboard = (controller.get("stripe_dashboard") or {}).get("type") if controller else None
    if dashboard == "express":
        return "express"
    if dashboard == "full" or not controller:
        return "standard"
    if controller.get("requirement_collection") == "application":
        return "custom"
    return "none"


def _controller(account_type: str | None, given: dict[str, Any]) -> dict[str, Any]:
    if account_type == "standard" or (not given and not account_type):
        dashboard, payer, losses, collection = "full", "account", "stripe", "stripe"
    elif account_type == "express":
        dashboard, payer, losses, collection = "express", "application", "application", "stripe"
    elif account_type == "custom":
        dashboard, payer, losses, collection = "none", "application", "application", "application"
    else:
        dashboard = (given.get("stripe_dashboard") or {}).get("type") or "full"
        payer = (given.get("fees") or {}).get("payer") or "account"
        losses = (given.get("losses") or {}).get("payments") or "stripe"
        collection = given.get("requirement_collection") or "stripe"
    return {
        "fees": {"payer": payer},
        "is_controller": True,
        "losses": {"payments": losses},
        "requirement_collection": collection,
        "stripe_dashboard": {"type": dashboard},
        "type": "application",
    }


def _apply_business_profile(account: dict[str, Any], profile: dict[str, Any]) -> None:
    for key in _BUSINESS_PROFILE_FIELDS:
        if key in profile:
            account["business_profile"][key] = profile[key] or None


def retrieve_account(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    return account_or_403(call, id)


def account_or_403(call: Call, id: str) -> dict[str, Any]:
    account = call.store.objects.get("account", {}).get(id)
    if account is None:
        raise StripeError.account_invalid(call.api_key, id)
    return account


def update_account(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    account = account_or_403(call, id)
    before = copy.deepcopy(account)
    if "email" in params:
        account["email"] = params["email"] or None
    if "metadata" in params:
        account["metadata"] = merge_metadata(account["metadata"], params["metadata"])
    if "business_type" in params:
        account["business_type"] = params["business_type"] or None
    for name, opts in as_dict(params, "capabilities").items():
        if isinstance(opts, dict) and as_bool(opts.get("requested")) and name not in account["capabilities"]:
            account["capabilities"] = {
                **account["capabilities"],
                name: "active" if account["details_submitted"] else "inactive",
            }
    if params.get("business_profile"):
        _apply_business_profile(account, as_dict(params, "business_profile"))
    previous = changed(before, account)
    if previous:
        call.emit("account.updated", account, previous, account=account["id"])
    return account


def list_accounts(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    return paginate("/v1/accounts", call.store.all("account"), params)


def platform_account(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """`GET /v1/account`: the platform itself (made once, not a connected account)."""
    store = call.store
    platform = store.find("acct_platformfake0")
    if platform is None:
        platform = store.fixtures.build(
            "account",
            {
                "id": "acct_platformfake0",
                "created": int(time.time()),
                "charges_enabled": True,
                "payouts_enabled": True,
                "details_submitted": True,
                "email": None,
                "type": "standard",
                "controller": {"type": "account"},
            },
        )
        _clear_requirements(platform)
        platform["object"] = "account"
        # Kept apart from connected accounts so it never shows in /v1/accounts.
        store.owners[platform["id"]] = "platform_account"
        store.objects.setdefault("platform_account", {})[platform["id"]] = platform
    return platform


def onboard(
    call: Call, account: dict[str, Any], *, charges: bool = True, payouts: bool = True
) -> dict[str, Any]:
    """What finishing onboarding does: details submitted, requirements met, capabilities active."""
    before = copy.deepcopy(account)
    account.update(details_submitted=True, charges_enabled=charges, payouts_enabled=payouts)
    _clear_requirements(account)
    capabilities = account["capabilities"] or {"transfers": "inactive"}
    account["capabilities"] = {name: "active" for name in capabilities}
    previous = changed(before, account)
    if previous:
        call.emit("account.updated", account, previous, account=account["id"])
    return account


def _clear_requirements(account: dict[str, Any]) -> None:
    for key in ("requirements", "future_requirements"):
        account[key] = {
            **account[key],
            "alternatives": [],
            "current_deadline": None,
            "currently_due": [],
            "disabled_reason": None,
            "errors": [],
            "eventually_due": [],
            "past_due": [],
            "pending_verification": [],
        }


def create_account_link(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    account = account_or_403(call, require(params, "account"))
    link_type = require(params, "type")
    if link_type not in ("account_onboarding", "account_update"):
        raise StripeError.invalid(
            "Invalid type: must be one of account_onboarding or account_update", param="type"
        )
    refresh_url = params.get("refresh_url") or None
    return_url = params.get("return_url") or None
    now = int(time.time())
    token = random_token(24)
    call.store.account_links[token] = {
        "account": account["id"],
        "return_url": return_url,
        "refresh_url": refresh_url,
        "expires_at": now + 300,
        "used": False,
    }
    return call.store.fixtures.build(
        "account_link",
        {"created": now, "expires_at": now + 300, "url": call.url(f"/connect/onboarding/{token}")},
    )


def create_transfer(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    amount = as_int(params, "amount", required=True)
    assert amount is not None
    if amount <= 0:
        raise StripeError.invalid(
            "Invalid positive integer", param="amount", code="parameter_invalid_integer"
        )
    currency = str(require(params, "currency")).lower()
    destination_id = require(params, "destination")
    destination = call.store.objects.get("account", {}).get(destination_id)
    if destination is None:
        raise StripeError.invalid(
            f"No such destination: '{destination_id}'", param="destination", code="resource_missing"
        )
    capabilities = destination["capabilities"] or {}
    if capabilities.get("transfers") != "active" and capabilities.get("crypto_transfers") != "active":
        raise StripeError.invalid(
            "Your destination account needs to have at least one of the following capabilities enabled: "
            "transfers, crypto_transfers, legacy_payments",
            code="insufficient_capabilities_for_transfer",
        )
    transfer_id = new_id("transfer")
    transfer = call.store.create(
        "transfer",
        {
            "id": transfer_id,
            "amount": amount,
            "amount_reversed": 0,
            "currency": currency,
            "destination": destination_id,
            "destination_payment": new_id("destination_payment"),
            "balance_transaction": new_id("balance_transaction"),
            "description": params.get("description") or None,
            "metadata": merge_metadata({}, params.get("metadata")),
            "transfer_group": params.get("transfer_group") or None,
            "source_transaction": params.get("source_transaction") or None,
            "source_type": params.get("source_type") or "card",
            "reversed": False,
            "reversals": list_envelope(f"/v1/transfers/{transfer_id}/reversals", []),
        },
    )
    call.emit("transfer.created", transfer)
    return transfer


def retrieve_transfer(call: Call, params: dict[str, Any], id: str) -> dict[str, Any]:
    return call.store.get("transfer", id)


def list_transfers(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    items = call.store.all("transfer")
    for field in ("destination", "transfer_group"):
        if params.get(field):
            items = [t for t in items if t[field] == params[field]]
    return paginate("/v1/transfers", items, params)
