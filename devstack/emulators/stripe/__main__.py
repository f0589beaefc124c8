"""`python -m devstack.emulators.stripe --port 12111 [--webhook URL --webhook-secret whsec_…]`."""

from __future__ import annotations

import argparse
import signal
import threading

from .server import StripeFake


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.emulators.stripe", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=12111, help="port (0 picks a free one)")
    parser.add_argument("--api-key", help="accept only this key (default: any sk_test_/rk_test_ key)")
    parser.add_argument("--webhook", help="deliver events to this URL")
    parser.add_argument("--webhook-secret", help="signing secret for --webhook (default: generated, printed)")
    parser.add_argument("--no-deliver", action="store_true", help="record events without delivering them")
    parser.add_argument(
        "--fixtures",
        help="path of stripe-fixtures3.json (default: STRIPE_FIXTURES_PATH or "
        "the project's specs/ folder)",
    )
    args = parser.parse_args(argv)

    fake = StripeFake(
        args.host,
        args.port,
        api_key=args.api_key,
        webhook_url=args.webhook,
        webhook_secret=args.webhook_secret,
        deliver_webhooks=not args.no_deliver,
        fixtures_path=args.fixtures,
    )
    fake.start()
    print(f"Stripe fake on {fake.url}  (STRIPE_API_BASE={fake.url})", flush=True)
    for endpoint in fake.control("GET", "/_fake/webhook_endpoints")["data"]:
        print(f"webhooks → {endpoint['url']}  secret {endpoint['secret']}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    fake.stop()


if __name__ == "__main__":
    main()
