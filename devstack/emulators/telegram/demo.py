"""Plays a Telegram conversation against `make dev`: sign in, hire an agent (or reuse it), link a
Telegram account through the bot's deep link, ask a question, print the agent's answer.

    python -m devstack.emulators.telegram.demo [--api http://127.0.0.1:8080] [--telegram http://127.0.0.1:18081]
                                               [--email demo@openagents.dev] [--agent inbox-zero] [--message "…"]

Everything goes through the platform as a user and Telegram would: the API over HTTP, and the local
Telegram fake delivering updates to `/functions/v1/telegram-webhook` and recording the bot's replies.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import httpx

USER_ID = 424242


def _wait(what: str, check: Any, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise SystemExit(f"timed out waiting for {what}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--api", default="http://127.0.0.1:8080")
    p.add_argument("--telegram", default="http://127.0.0.1:18081", help="the Telegram fake (make dev prints it)")
    p.add_argument("--email", default="demo@openagents.dev")
    p.add_argument("--agent", default="inbox-zero")
    p.add_argument("--message", default="Hello! What can you do for me?")
    args = p.parse_args(argv)
    api = httpx.Client(base_url=args.api, timeout=60, trust_env=False)
    tg = httpx.Client(base_url=args.telegram, timeout=60, trust_env=False)

    token = api.post("/api/dev/sign-in", json={"email": args.email}).raise_for_status().json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    hired = api.post("/api/instances", json={"agent": args.agent}, headers=auth).raise_for_status().json()
    instance = hired["id"]
    print(f"agent {args.agent}: instance {instance} ({hired['status']})")
    _wait("the agent to be running", lambda: api.get(f"/api/instances/{instance}", headers=auth).json()["status"]
          in ("running", "suspended", "stopped"))

    link = api.post(f"/api/instances/{instance}/relays/telegram/link", headers=auth).raise_for_status().json()
    print(f"deep link: {link['url']}  (expires {link['expires_at']})")

    def say(text: str) -> list[dict[str, Any]]:
        seen = len(tg.get("/_fake/sent", params={"chat_id": USER_ID}).json()["items"])
        print(f"\nyou  > {text}")
        tg.post("/_fake/messages", json={"user_id": USER_ID, "text": text, "first_name": "Demo"}).raise_for_status()

        def replies() -> list[dict[str, Any]] | None:
            items = [c for c in tg.get("/_fake/sent", params={"chat_id": USER_ID}).json()["items"][seen:]
                     if c["method"] == "sendMessage"]
            return items or None

        got = _wait("the bot's reply", replies)
        time.sleep(0.5)  # a long answer comes in several parts
        got = replies() or got
        for c in got:
            print(f"bot < {c['text']}")
        return got

    say(f"/start {link['token']}")
    say(args.message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
