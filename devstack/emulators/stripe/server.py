"""`StripeFake`: the fake served by uvicorn on a background thread, plus helpers for tests.

    with StripeFake() as fake:                     # 127.0.0.1, a free port
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": fake.url})
        session = client.v1.checkout.sessions.create({...})
        fake.complete_checkout(session.id)

Helpers drive the `/_fake/` controls over HTTP, so tests and `make dev` use one code path.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from .app import create_app
from .fixtures import load_fixtures
from .resources.events import add_endpoint
from .store import Store

LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEFAULT_API_KEY = "sk_test_openagents_fake"


class StripeFake:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        deliver_webhooks: bool = True,
        fixtures_path: str | Path | None = None,
        api_version: str | None = None,
        webhook_retries: int = 2,
        webhook_backoff: float = 0.2,
    ) -> None:
        if host not in LOOPBACK:
            # It accepts any test key and has no real auth: never reachable from outside the machine.
            raise ValueError(f"the Stripe fake binds to loopback only, not {host!r}")
        self.host = host
        self.port = port
        self.api_key = api_key
        # The state, for read-only peeking in a debugger; it lives on the server thread's event
        # loop, so tests should go through the /_fake/ controls below instead.
        self.store = Store(
            load_fixtures(fixtures_path), api_version=api_version, deliver_webhooks=deliver_webhooks
        )
        if webhook_url:
            add_endpoint(self.store, webhook_url, secret=webhook_secret, keep=True)
        self.app = create_app(
            self.store, api_key=api_key, webhook_retries=webhook_retries, webhook_backoff=webhook_backoff
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._http: httpx.Client | None = None

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> StripeFake:
        family = socket.AF_INET6 if self.host == "::1" else socket.AF_INET
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on sockets that say they are TCP,
        # and without it every response stalls ~40 ms (Nagle + delayed ACK).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"stripe-fake-{self.port}"
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Stripe fake did not start")
            time.sleep(0.01)
        self._http = httpx.Client(base_url=self.url, timeout=30, trust_env=False)
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> StripeFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def client(self, api_key: str | None = None, **kwargs: Any) -> Any:
        """A `stripe.StripeClient` pointed at this fake (retries off unless asked for)."""
        import stripe

        kwargs.setdefault("max_network_retries", 0)
        return stripe.StripeClient(
            api_key or self.api_key or DEFAULT_API_KEY, base_addresses={"api": self.url}, **kwargs
        )

    # --- the /_fake/ controls -------------------------------------------------------------------

    def control(
        self, method: str, route: str, json: dict[str, Any] | None = None, query: dict[str, str] | None = None
    ) -> Any:
        if self._http is None:
            raise RuntimeError("start the Stripe fake first")
        response = self._http.request(method, route, json=json, params=query)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.control("POST", "/_fake/reset")

    def set_deliver_webhooks(self, deliver: bool) -> None:
        self.control("POST", "/_fake/config", {"deliver_webhooks": deliver})

    def add_webhook_endpoint(
        self, url: str, secret: str | None = None, enabled_events: list[str] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"url": url, "secret": secret}
        if enabled_events:
            body["enabled_events"] = enabled_events
        return self.control("POST", "/_fake/webhook_endpoints", body)

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        """Events so far, oldest first."""
        return self.control("GET", "/_fake/events", query={"type": type} if type else None)["data"]

    def flush_webhooks(self) -> None:
        self.control("POST", "/_fake/webhooks/flush")

    def complete_checkout(self, session_id: str, **body: Any) -> dict[str, Any]:
        return self.control("POST", f"/_fake/checkout/{session_id}/complete", body)

    def pay_invoice(self, invoice_id: str, **body: Any) -> dict[str, Any]:
        return self.control("POST", f"/_fake/invoices/{invoice_id}/pay", body)

    def fail_invoice(self, invoice_id: str, **body: Any) -> dict[str, Any]:
        return self.control("POST", f"/_fake/invoices/{invoice_id}/fail", body)

    def renew_subscription(self, subscription_id: str, **body: Any) -> dict[str, Any]:
        return self.control("POST", f"/_fake/subscriptions/{subscription_id}/renew", body)

    def update_subscription(self, subscription_id: str, **changes: Any) -> dict[str, Any]:
        return self.control("POST", f"/_fake/subscriptions/{subscription_id}/update", changes)

    def cancel_subscription(self, subscription_id: str, **body: Any) -> dict[str, Any]:
        return self.control("POST", f"/_fake/subscriptions/{subscription_id}/cancel", body)

    def refund_charge(self, charge_id: str, **body: Any) -> dict[str, Any]:
        return self.control("POST", f"/_fake/charges/{charge_id}/refund", body)

    def onboard_account(self, account_id: str, **body: Any) -> dict[str, Any]:
        return self.control("POST", f"/_fake/accounts/{account_id}/onboard", body)

    def meter_events(self) -> list[dict[str, Any]]:
        return self.control("GET", "/_fake/meter_events")["data"]

    def transfers(self) -> list[dict[str, Any]]:
        return self.control("GET", "/_fake/transfers")["data"]

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        return self.control("GET", "/_fake/requests", query={"path": path} if path else None)["data"]

    def add_fault(self, path: str, **fault: Any) -> None:
        self.control("POST", "/_fake/faults", {"path": path, **fault})

    def clear_faults(self) -> None:
        self.control("DELETE", "/_fake/faults")
