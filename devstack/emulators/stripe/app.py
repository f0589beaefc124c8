"""The Starlette app: Stripe's v1 routes, plus the fake's `/_fake/` controls and hosted pages.

Every `/v1` request passes through one dispatcher, in Stripe's order: authenticate (Bearer or
Basic, test-mode keys only) → parse the form/query → scripted faults → idempotency (replay or
`idempotency_error`) → unknown-parameter check → the operation → `expand[]` → respond; then the
events it caused are delivered in the background.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import control, pages
from .context import Call, Runtime
from .errors import StripeError
from .fixtures import new_id
from .forms import parse_pairs
from .listing import expand
from .params import check_known
from .resources import catalog, checkout, connect, customers, events, metering, payments, subscriptions
from .store import Fault, IdempotencyRecord, Store
from .webhooks import Deliverer

log = logging.getLogger(__name__)

Handler = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    params: str | None  # stripe-python params type ("module:Class" under stripe.params) for the check


def _op(method: str, path: str, handler: Handler, params: str | None) -> Operation:
    return Operation(method, path, handler, params)


OPERATIONS: list[Operation] = [
    _op("POST", "/v1/customers", customers.create, "CustomerCreateParams"),
    _op("GET", "/v1/customers", customers.list_, "CustomerListParams"),
    _op("GET", "/v1/customers/{id}", customers.retrieve, "CustomerRetrieveParams"),
    _op("POST", "/v1/customers/{id}", customers.update, "CustomerUpdateParams"),
    _op("DELETE", "/v1/customers/{id}", customers.delete, "CustomerDeleteParams"),
    _op("POST", "/v1/products", catalog.create_product, "ProductCreateParams"),
    _op("GET", "/v1/products", catalog.list_products, "ProductListParams"),
    _op("GET", "/v1/products/{id}", catalog.retrieve_product, "ProductRetrieveParams"),
    _op("POST", "/v1/prices", catalog.create_price, "PriceCreateParams"),
    _op("GET", "/v1/prices", catalog.list_prices, "PriceListParams"),
    _op("GET", "/v1/prices/{id}", catalog.retrieve_price, "PriceRetrieveParams"),
    _op("POST", "/v1/prices/{id}", catalog.update_price, "PriceUpdateParams"),
    _op("POST", "/v1/checkout/sessions", checkout.create, "checkout:SessionCreateParams"),
    _op("GET", "/v1/checkout/sessions", checkout.list_, "checkout:SessionListParams"),
    _op("GET", "/v1/checkout/sessions/{id}", checkout.retrieve, "checkout:SessionRetrieveParams"),
    _op(
        "GET",
        "/v1/checkout/sessions/{id}/line_items",
        checkout.list_line_items,
        "checkout:SessionListLineItemsParams",
    ),
    _op("POST", "/v1/checkout/sessions/{id}/expire", checkout.expire, "checkout:SessionExpireParams"),
    _op(
        "POST",
        "/v1/billing_portal/sessions",
        checkout.create_portal_session,
        "billing_portal:SessionCreateParams",
    ),
    _op("POST", "/v1/subscriptions", subscriptions.create, "SubscriptionCreateParams"),
    _op("GET", "/v1/subscriptions", subscriptions.list_, "SubscriptionListParams"),
    _op("GET", "/v1/subscriptions/{id}", subscriptions.retrieve, "SubscriptionRetrieveParams"),
    _op("POST", "/v1/subscriptions/{id}", subscriptions.update, "SubscriptionUpdateParams"),
    _op("DELETE", "/v1/subscriptions/{id}", subscriptions.cancel, "SubscriptionCancelParams"),
    _op("GET", "/v1/invoices", subscriptions.list_invoices, "InvoiceListParams"),
    _op("GET", "/v1/invoices/{id}", subscriptions.retrieve_invoice, "InvoiceRetrieveParams"),
    _op("GET", "/v1/invoices/{id}/lines", subscriptions.list_invoice_lines, "InvoiceListLinesParams"),
    _op("GET", "/v1/invoice_payments", subscriptions.list_invoice_payments, "InvoicePaymentListParams"),
    _op(
        "GET",
        "/v1/invoice_payments/{id}",
        subscriptions.retrieve_invoice_payment,
        "InvoicePaymentRetrieveParams",
    ),
    _op("GET", "/v1/payment_intents", payments.list_payment_intents, "PaymentIntentListParams"),
    _op("GET", "/v1/payment_intents/{id}", payments.retrieve_payment_intent, "PaymentIntentRetrieveParams"),
    _op("GET", "/v1/charges", payments.list_charges, "ChargeListParams"),
    _op("GET", "/v1/charges/{id}", payments.retrieve_charge, "ChargeRetrieveParams"),
    _op("POST", "/v1/refunds", payments.create_refund, "RefundCreateParams"),
    _op("GET", "/v1/refunds", payments.list_refunds, "RefundListParams"),
    _op("GET", "/v1/refunds/{id}", payments.retrieve_refund, "RefundRetrieveParams"),
    _op("POST", "/v1/billing/meters", metering.create_meter, "billing:MeterCreateParams"),
    _op("GET", "/v1/billing/meters", metering.list_meters, "billing:MeterListParams"),
    _op("GET", "/v1/billing/meters/{id}", metering.retrieve_meter, "billing:MeterRetrieveParams"),
    _op("POST", "/v1/billing/meters/{id}", metering.update_meter, "billing:MeterUpdateParams"),
    _op(
        "POST",
        "/v1/billing/meters/{id}/deactivate",
        metering.deactivate_meter,
        "billing:MeterDeactivateParams",
    ),
    _op(
        "POST",
        "/v1/billing/meters/{id}/reactivate",
        metering.reactivate_meter,
        "billing:MeterReactivateParams",
    ),
    _op(
        "GET",
        "/v1/billing/meters/{id}/event_summaries",
        metering.list_event_summaries,
        "billing:MeterListEventSummariesParams",
    ),
    _op("POST", "/v1/billing/meter_events", metering.create_meter_event, "billing:MeterEventCreateParams"),
    _op("POST", "/v1/accounts", connect.create_account, "AccountCreateParams"),
    _op("GET", "/v1/accounts", connect.list_accounts, "AccountListParams"),
    _op("GET", "/v1/accounts/{id}", connect.retrieve_account, "AccountRetrieveParams"),
    _op("POST", "/v1/accounts/{id}", connect.update_account, "AccountUpdateParams"),
    _op("GET", "/v1/account", connect.platform_account, "AccountRetrieveCurrentParams"),
    _op("POST", "/v1/account_links", connect.create_account_link, "AccountLinkCreateParams"),
    _op("POST", "/v1/transfers", connect.create_transfer, "TransferCreateParams"),
    _op("GET", "/v1/transfers", connect.list_transfers, "TransferListParams"),
    _op("GET", "/v1/transfers/{id}", connect.retrieve_transfer, "TransferRetrieveParams"),
    _op("GET", "/v1/events", events.list_events, "EventListParams"),
    _op("GET", "/v1/events/{id}", events.retrieve_event, "EventRetrieveParams"),
    _op("POST", "/v1/webhook_endpoints", events.create_endpoint, "WebhookEndpointCreateParams"),
    _op("GET", "/v1/webhook_endpoints", events.list_endpoints, "WebhookEndpointListParams"),
    _op("GET", "/v1/webhook_endpoints/{id}", events.retrieve_endpoint, "WebhookEndpointRetrieveParams"),
    _op("POST", "/v1/webhook_endpoints/{id}", events.update_endpoint, "WebhookEndpointUpdateParams"),
    _op("DELETE", "/v1/webhook_endpoints/{id}", events.delete_endpoint, "WebhookEndpointDeleteParams"),
]


def create_app(
    store: Store,
    *,
    api_key: str | None = None,
    webhook_retries: int = 2,
    webhook_backoff: float = 0.2,
) -> Starlette:
    runtime = Runtime(
        store=store,
        deliverer=Deliverer(store, retries=webhook_retries, backoff=webhook_backoff),
        api_key=api_key,
    )
    routes: list[BaseRoute] = [Route(op.path, _endpoint(op), methods=[op.method]) for op in OPERATIONS]
    routes += control.routes()
    routes += pages.routes()
    # Anything else gets Stripe's JSON 404, which the SDK can read (e.g. `//v1/…` from a base url
    # ending in "/"), instead of a plain-text one it reports as an invalid response.
    routes.append(Route("/{rest:path}", _unrecognized, methods=["GET", "POST", "DELETE", "PUT", "PATCH"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await runtime.deliverer.aclose()  # lets in-flight deliveries finish before the loop closes

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.fake = runtime
    return app


def _endpoint(op: Operation) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        return await dispatch(request, op)

    endpoint.__name__ = f"{op.method.lower()}_{op.handler.__name__}"
    return endpoint


async def _unrecognized(request: Request) -> Response:
    return _error_response(StripeError.unrecognized_url(request.method, request.url.path), new_id("request"))


async def dispatch(request: Request, op: Operation) -> Response:
    runtime: Runtime = request.app.state.fake
    store = runtime.store
    request_id = new_id("request")
    idem_key = request.headers.get("idempotency-key") if op.method == "POST" else None
    log_entry: dict[str, Any] = {
        "id": request_id,
        "method": op.method,
        "path": request.url.path,
        "idempotency_key": idem_key,
        "stripe_account": request.headers.get("stripe-account"),
        "stripe_version": request.headers.get("stripe-version"),
        "replayed": False,
    }
    store.requests.append(log_entry)
    try:
        api_key = _authenticate(request, runtime.api_key)
        params = await _params(request)
    except StripeError as exc:
        log_entry["status"] = exc.status
        return _error_response(exc, request_id)
    log_entry["params"] = params

    fault = next((f for f in store.faults if f.matches(op.method, request.url.path)), None)
    if fault is not None:
        fault.count -= 1
        if fault.when == "before":
            log_entry["status"] = fault.status
            return _error_response(_fault_error(fault), request_id)

    scope_key = (api_key, request.headers.get("stripe-account") or "", idem_key) if idem_key else None
    fingerprint = (op.method, request.url.path, json.dumps(params, sort_keys=True))
    if scope_key is not None and scope_key in store.idempotency:
        record = store.idempotency[scope_key]
        if record.fingerprint != fingerprint:
            log_entry["status"] = 400
            return _error_response(StripeError.idempotency_mismatch(idem_key or ""), request_id)
        log_entry.update(status=record.status, replayed=True)
        return _json_response(
            record.body,
            record.status,
            request_id,
            request,
            extra={
                "Idempotent-Replayed": "true",
                "Original-Request": record.request_id,
                "Idempotency-Key": idem_key or "",
            },
        )

    call = Call(
        store=store,
        base_url=str(request.base_url),
        api_key=api_key,
        request_id=request_id,
        idempotency_key=idem_key,
        stripe_account=request.headers.get("stripe-account"),
    )
    try:
        check_known(params, op.params)
        result = op.handler(call, params, **request.path_params)
        body = json.dumps(expand(store, result, params)).encode()
        status, headers = 200, {}
    except StripeError as exc:
        body, status, headers = json.dumps(exc.body()).encode(), exc.status, exc.headers()
        # A refused request sends nothing (handlers validate before they change state).
        for event in call.emitted:
            store.delete("event", event["id"])
        call.emitted.clear()
    except Exception:  # a bug in the fake: answer like Stripe's 500, and say so in the log
        log.exception("stripe fake: %s %s failed", op.method, request.url.path)
        err = StripeError(500, "The Stripe fake failed on this request (see its log).", type="api_error")
        log_entry["status"] = 500
        return _error_response(err, request_id)

    # Stripe saves the result once execution started; validation errors (4xx here) are not saved.
    if scope_key is not None and (status < 400 or status >= 500):
        store.idempotency[scope_key] = IdempotencyRecord(fingerprint, status, body, request_id)
    runtime.deliverer.schedule(call.emitted)
    log_entry["status"] = status
    if fault is not None:  # "after": the work happened, the caller sees a failure
        log_entry["status"] = fault.status
        return _error_response(_fault_error(fault), request_id)
    extra = {"Idempotency-Key": idem_key} if idem_key else {}
    return _json_response(body, status, request_id, request, extra={**extra, **headers})


def _authenticate(request: Request, expected: str | None) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    key = ""
    if scheme.lower() == "bearer":
        key = value.strip()
    elif scheme.lower() == "basic":
        try:
            key = base64.b64decode(value.strip()).decode().split(":", 1)[0]
        except ValueError:
            key = ""
    if not key:
        raise StripeError.no_api_key()
    # Only test-mode keys: the fake must never be mistaken for (or fed) live credentials.
    if not key.startswith(("sk_test_", "rk_test_")) or (expected is not None and key != expected):
        raise StripeError.bad_api_key(key)
    return key


async def _params(request: Request) -> dict[str, Any]:
    pairs = parse_qsl(request.url.query, keep_blank_values=True)
    if request.method == "POST":
        body = await request.body()
        content_type = request.headers.get("content-type", "")
        if body and "json" in content_type:
            raise StripeError.invalid(
                "Invalid request: the v1 API takes application/x-www-form-urlencoded bodies, not JSON."
            )
        if body:
            pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    return parse_pairs(pairs) if pairs else {}


def _fault_error(fault: Fault) -> StripeError:
    return StripeError(
        fault.status, fault.message, type=fault.type, code=fault.code, should_retry=fault.should_retry
    )


def _error_response(exc: StripeError, request_id: str) -> Response:
    headers = {"Request-Id": request_id, **exc.headers()}
    return Response(
        json.dumps(exc.body()), status_code=exc.status, media_type="application/json", headers=headers
    )


def _json_response(
    body: bytes, status: int, request_id: str, request: Request, *, extra: dict[str, str] | None = None
) -> Response:
    runtime: Runtime = request.app.state.fake
    headers = {
        "Request-Id": request_id,
        "Stripe-Version": request.headers.get("stripe-version") or runtime.store.api_version or "",
        **(extra or {}),
    }
    return Response(body, status_code=status, media_type="application/json", headers=headers)
