"""Test controls under `/_fake/` (not Stripe's API): drive what customers and Stripe would do.

JSON in, JSON out, no auth (the fake only listens on loopback). A control that changes state answers
`{"object": …, "events": [...], "deliveries": {event id: [...]}}`; by default it delivers its events to
the registered webhook endpoints and waits for them, `"deliver": false` (body or query) records the
events without delivering (tests then sign and post them themselves), `"wait": false` delivers in
the background.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .context import Call, Runtime
from .errors import StripeError
from .params import as_bool, merge_metadata
from .resources import checkout, connect, events, payments, subscriptions
from .store import Fault

Action = Callable[[Call, dict[str, Any], dict[str, str]], Any]


def routes() -> list[BaseRoute]:
    return [
        Route("/_fake/reset", _reset, methods=["POST"]),
        Route("/_fake/config", _config, methods=["GET", "POST"]),
        Route("/_fake/events", _list_events, methods=["GET"]),
        Route("/_fake/events/{id}", _get_event, methods=["GET"]),
        Route("/_fake/events/{id}/deliver", _redeliver, methods=["POST"]),
        Route("/_fake/webhooks/flush", _flush, methods=["POST"]),
        Route("/_fake/webhook_endpoints", _endpoints, methods=["GET", "POST"]),
        Route("/_fake/webhook_endpoints/{id}", _delete_endpoint, methods=["DELETE"]),
        _control("/_fake/checkout/{id}/complete", _complete_checkout),
        _control("/_fake/checkout/{id}/expire", lambda c, b, p: checkout.expire(c, {}, p["id"])),
        _control(
            "/_fake/invoices/{id}/pay", lambda c, b, p: subscriptions.pay_invoice(c, _get(c, "invoice", p))
        ),
        _control(
            "/_fake/invoices/{id}/fail", lambda c, b, p: subscriptions.fail_invoice(c, _get(c, "invoice", p))
        ),
        _control(
            "/_fake/subscriptions/{id}/renew",
            lambda c, b, p: subscriptions.renew(c, _get(c, "subscription", p), fail=as_bool(b.get("fail"))),
        ),
        _control("/_fake/subscriptions/{id}/update", _update_subscription),
        _control("/_fake/subscriptions/{id}/cancel", lambda c, b, p: subscriptions.cancel(c, {}, p["id"])),
        _control("/_fake/charges/{id}/refund", _refund_charge),
        _control("/_fake/accounts/{id}/onboard", _onboard),
        Route("/_fake/meter_events", _meter_events, methods=["GET"]),
        Route("/_fake/transfers", _transfers, methods=["GET"]),
        Route("/_fake/requests", _requests, methods=["GET"]),
        Route("/_fake/faults", _faults, methods=["POST", "DELETE"]),
        Route("/_fake/objects/{resource}", _objects, methods=["GET"]),
    ]


# --- running a state-changing control -----------------------------------------------------------


def _control(path: str, action: Action) -> Route:
    async def endpoint(request: Request) -> Response:
        return await run_control(request, action)

    return Route(path, endpoint, methods=["POST"])


async def run_control(request: Request, action: Action) -> Response:
    runtime = _runtime(request)
    body = await _body(request)
    # Events from controls are "automatic" ones in Stripe's terms: no request id.
    call = Call(store=runtime.store, base_url=str(request.base_url))
    try:
        result = action(call, body, dict(request.path_params))
    except StripeError as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    deliver = _flag(request, body, "deliver", default=None)
    task = runtime.deliverer.schedule(call.emitted, deliver)
    if task is not None and _flag(request, body, "wait", default=True):
        await task
    return JSONResponse(
        {
            "object": result,
            "events": call.emitted,
            "deliveries": {e["id"]: runtime.store.deliveries.get(e["id"], []) for e in call.emitted},
        }
    )


def _complete_checkout(call: Call, body: dict[str, Any], path: dict[str, str]) -> Any:
    return checkout.complete(call, path["id"], email=body.get("email"), name=body.get("name"))


def _update_subscription(call: Call, body: dict[str, Any], path: dict[str, str]) -> Any:
    """Change a subscription as the dashboard or the portal would (one `customer.subscription.updated`)."""
    subscription = _get(call, "subscription", path)
    changes: dict[str, Any] = {}
    if "status" in body:
        changes["status"] = body["status"]
    if "cancel_at_period_end" in body:
        changes.update(
            subscriptions.cancel_at_period_end_changes(subscription, as_bool(body["cancel_at_period_end"]))
        )
    if "metadata" in body:
        changes["metadata"] = merge_metadata(subscription["metadata"], body["metadata"])
    if "price" in body or "quantity" in body:
        item: dict[str, Any] = {"id": subscription["items"]["data"][0]["id"]}
        if body.get("price"):
            item["price"] = body["price"]
        if body.get("quantity") is not None:
            item["quantity"] = str(body["quantity"])
        changes["items"] = subscriptions.updated_items(call.store, subscription, [item])
    return subscriptions.set_fields(call, subscription, changes)


def _refund_charge(call: Call, body: dict[str, Any], path: dict[str, str]) -> Any:
    charge = _get(call, "charge", path)
    amount = body.get("amount")
    return payments.refund(
        call,
        charge,
        amount=int(amount) if amount is not None else None,
        reason=body.get("reason"),
        metadata=body.get("metadata"),
    )


def _onboard(call: Call, body: dict[str, Any], path: dict[str, str]) -> Any:
    account = _get(call, "account", path)
    return connect.onboard(
        call,
        account,
        charges=as_bool(body.get("charges_enabled", True)),
        payouts=as_bool(body.get("payouts_enabled", True)),
    )


# --- inspection and settings --------------------------------------------------------------------


async def _reset(request: Request) -> Response:
    runtime = _runtime(request)
    await runtime.deliverer.flush()
    runtime.store.reset()
    return JSONResponse({"reset": True})


async def _config(request: Request) -> Response:
    store = _runtime(request).store
    if request.method == "POST":
        body = await _body(request)
        if "deliver_webhooks" in body:
            store.deliver_webhooks = as_bool(body["deliver_webhooks"])
        if body.get("api_version"):
            store.api_version = str(body["api_version"])
    return JSONResponse({"deliver_webhooks": store.deliver_webhooks, "api_version": store.api_version})


async def _list_events(request: Request) -> Response:
    """Every event so far, oldest first (the order they happened); `?type=` filters."""
    store = _runtime(request).store
    items = list(reversed(store.all("event")))
    wanted = request.query_params.getlist("type")
    if wanted:
        items = [e for e in items if e["type"] in wanted]
    return JSONResponse({"data": items})


async def _get_event(request: Request) -> Response:
    store = _runtime(request).store
    event_id = request.path_params["id"]
    event = store.objects.get("event", {}).get(event_id)
    if event is None:
        return JSONResponse(StripeError.missing("event", event_id).body(), status_code=404)
    return JSONResponse({"event": event, "deliveries": store.deliveries.get(event_id, [])})


async def _redeliver(request: Request) -> Response:
    runtime = _runtime(request)
    event = runtime.store.objects.get("event", {}).get(request.path_params["id"])
    if event is None:
        return JSONResponse(StripeError.missing("event", request.path_params["id"]).body(), status_code=404)
    return JSONResponse({"deliveries": await runtime.deliverer.deliver(event)})


async def _flush(request: Request) -> Response:
    await _runtime(request).deliverer.flush()
    return JSONResponse({"flushed": True})


async def _endpoints(request: Request) -> Response:
    store = _runtime(request).store
    if request.method == "POST":
        body = await _body(request)
        if not body.get("url"):
            return JSONResponse(StripeError.missing_param("url").body(), status_code=400)
        endpoint = events.add_endpoint(
            store,
            body["url"],
            secret=body.get("secret"),
            enabled_events=body.get("enabled_events"),
            keep=True,
        )
        return JSONResponse({**endpoint, "secret": store.webhook_secrets[endpoint["id"]]})
    return JSONResponse(
        {"data": [{**ep, "secret": store.webhook_secrets[ep["id"]]} for ep in store.all("webhook_endpoint")]}
    )


async def _delete_endpoint(request: Request) -> Response:
    store = _runtime(request).store
    store.delete("webhook_endpoint", request.path_params["id"])
    store.webhook_secrets.pop(request.path_params["id"], None)
    store.kept_endpoints.discard(request.path_params["id"])
    return JSONResponse({"deleted": True})


async def _meter_events(request: Request) -> Response:
    items = list(_runtime(request).store.meter_events)
    if request.query_params.get("event_name"):
        items = [e for e in items if e["event_name"] == request.query_params["event_name"]]
    if request.query_params.get("customer"):
        items = [e for e in items if request.query_params["customer"] in e["payload"].values()]
    return JSONResponse({"data": items})


async def _transfers(request: Request) -> Response:
    return JSONResponse({"data": list(reversed(_runtime(request).store.all("transfer")))})


async def _requests(request: Request) -> Response:
    items = list(_runtime(request).store.requests)
    if request.query_params.get("path"):
        items = [r for r in items if r["path"].startswith(request.query_params["path"])]
    return JSONResponse({"data": items})


async def _faults(request: Request) -> Response:
    store = _runtime(request).store
    if request.method == "DELETE":
        store.faults.clear()
        return JSONResponse({"data": []})
    body = await _body(request)
    try:
        fault = Fault(**body)
    except TypeError as exc:
        return JSONResponse(StripeError.invalid(f"bad fault: {exc}").body(), status_code=400)
    store.faults.append(fault)
    return JSONResponse({"data": [vars(f) for f in store.faults]})


async def _objects(request: Request) -> Response:
    return JSONResponse({"data": _runtime(request).store.all(request.path_params["resource"])})


# --- helpers ------------------------------------------------------------------------------------


def _runtime(request: Request) -> Runtime:
    return request.app.state.fake


def _get(call: Call, resource: str, path: dict[str, str]) -> dict[str, Any]:
    return call.store.get(resource, path["id"])


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _flag(request: Request, body: dict[str, Any], name: str, *, default: bool | None) -> bool | None:
    if name in body:
        return as_bool(body[name])
    if name in request.query_params:
        return as_bool(request.query_params[name])
    return default
