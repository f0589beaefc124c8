"""Fixtures for relay tests: the local fakes of the four chat platforms, settings pointed at them, the
real chat path (Fly emulator with real agent machines, SSE gateway, API over HTTP) as the webhook
target, and helpers to link an account and drain the `relays` queue.

    fakes          session: TelegramFake, SlackFake, WhatsAppFake, DiscordFake (no webhook target)
    relay_env      function: settings pointed at the fakes (intake tests through the in-process client)
    relay_stack    session: the chat stack + the fakes delivering to its API over HTTP
    agent          function: a signed-in user with a running instance on relay_stack, plenty of credits
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.config import overridden
from tests.support import polling
from tests.support.harness import CANARIES, RECORDER, ApiClient

TG_TOKEN = f"7000000001:{secrets.token_urlsafe(26)}"
SLACK_TOKEN = f"xoxb-1-2-{secrets.token_urlsafe(18)}"
WA_TOKEN = "EAA" + secrets.token_urlsafe(40)
DISCORD_TOKEN = secrets.token_urlsafe(52)
for _secret in (TG_TOKEN, SLACK_TOKEN, WA_TOKEN, DISCORD_TOKEN):
    RECORDER.secret(_secret)

TG_SECRET = CANARIES["TELEGRAM_WEBHOOK_SECRET"]
SLACK_SECRET = CANARIES["SLACK_SIGNING_SECRET"]
WA_SECRET = CANARIES["WHATSAPP_APP_SECRET"]
WA_VERIFY = "verify-" + secrets.token_urlsafe(12)
WA_PHONE_ID = "106540352242922"
DISCORD_APP_ID = "1100000000000000001"
BOT_USERNAME = "openagents_test_bot"


@dataclass
class Fakes:
    telegram: Any
    slack: Any
    whatsapp: Any
    discord: Any

    def env(self) -> dict[str, str]:
        return {
            "TELEGRAM_BOT_TOKEN": TG_TOKEN, "TELEGRAM_BOT_USERNAME": BOT_USERNAME,
            "TELEGRAM_WEBHOOK_SECRET": TG_SECRET, "TELEGRAM_API_BASE": self.telegram.url,
            "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_SIGNING_SECRET": SLACK_SECRET,
            "SLACK_API_BASE": self.slack.url + "/api/",
            "WHATSAPP_APP_SECRET": WA_SECRET, "WHATSAPP_VERIFY_TOKEN": WA_VERIFY, "WHATSAPP_ACCESS_TOKEN": WA_TOKEN,
            "WHATSAPP_PHONE_NUMBER_ID": WA_PHONE_ID, "WHATSAPP_API_BASE": self.whatsapp.url + "/v21.0",
            "DISCORD_APPLICATION_ID": DISCORD_APP_ID, "DISCORD_PUBLIC_KEY": self.discord.public_key_hex,
            "DISCORD_BOT_TOKEN": DISCORD_TOKEN, "DISCORD_API_BASE": self.discord.url + "/api/v10",
        }

    def target(self, base_url: str | None) -> None:
        """Where the fakes deliver inbound updates (None: nowhere; tests post them themselves)."""
        self.telegram.state.webhook_url = f"{base_url}/functions/v1/telegram-webhook" if base_url else None
        self.slack.state.events_url = f"{base_url}/functions/v1/slack-events" if base_url else None
        self.slack.state.commands_url = f"{base_url}/functions/v1/slack-commands" if base_url else None
        self.whatsapp.state.webhook_url = f"{base_url}/functions/v1/whatsapp-webhook" if base_url else None
        self.discord.state.interactions_url = f"{base_url}/functions/v1/discord-interactions" if base_url else None

    def reset(self) -> None:
        for fake in (self.telegram, self.slack, self.whatsapp, self.discord):
            fake.reset()


@pytest.fixture(scope="session")
def fakes() -> Iterator[Fakes]:
    from devstack.emulators.discord import DiscordFake
    from devstack.emulators.slack import SlackFake
    from devstack.emulators.telegram import TelegramFake
    from devstack.emulators.whatsapp import WhatsAppFake

    started = [
        TelegramFake(token=TG_TOKEN, username=BOT_USERNAME, secret=TG_SECRET).start(),
        SlackFake(token=SLACK_TOKEN, signing_secret=SLACK_SECRET).start(),
        WhatsAppFake(token=WA_TOKEN, app_secret=WA_SECRET, phone_number_id=WA_PHONE_ID).start(),
        DiscordFake(application_id=DISCORD_APP_ID, bot_token=DISCORD_TOKEN).start(),
    ]
    RECORDER.secret(started[3].private_key_hex)
    try:
        yield Fakes(*started)
    finally:
        for fake in started:
            fake.stop()


@pytest.fixture
def relay_env(fakes: Fakes, database: Any) -> Iterator[Fakes]:
    fakes.target(None)
    fakes.reset()
    with overridden(fakes.env()):
        yield fakes


def drain_relays(db: Any, timeout: float = 120.0) -> None:
    from devstack.chat_stack import drain_jobs

    drain_jobs(db, ["relays"], timeout=timeout)


def inbox(db: Any, relay: str | None = None) -> list[dict[str, Any]]:
    with db.service() as tx:
        return tx.sql("select id, relay::text as relay, platform_id, chat_id, status, payload, turn_id, attempts"
                      " from relay_inbox where %(r)s::text is null or relay::text = %(r)s order by id",
                      {"r": relay}).fetchall()


def relay_jobs(db: Any) -> list[dict[str, Any]]:
    with db.service() as tx:
        return tx.sql("select id, status::text as status, args, lock from procrastinate.procrastinate_jobs"
                      " where task_name = 'relay_process' order by id").fetchall()


@dataclass
class RelayStack:
    base_url: str
    fly: Any
    env: dict[str, str]
    fakes: Fakes


@pytest.fixture(scope="session")
def relay_stack(database: Any, fakes: Fakes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayStack]:
    from devstack.chat_stack import start_local_chat

    local = start_local_chat(tmp_path_factory.mktemp("relays"), fly_token=CANARIES["FLY_API_TOKEN"],
                             machine_env={"OFFLINE_TOKEN_INTERVAL_MS": "2", "BRIDGE_HEARTBEAT_S": "1"}, grace_s=5)
    RECORDER.secret(local.env["STREAM_TOKEN_PRIVATE_KEY"])
    env = {**local.env, **fakes.env()}
    try:
        with overridden(env):
            yield RelayStack(local.base_url, local.fly, env, fakes)
    finally:
        local.stop()


@dataclass
class Agent:
    user: Any
    instance_id: str
    client: ApiClient
    stack: RelayStack

    def link(self, relay: str) -> dict[str, Any]:
        resp = self.client.post(f"/api/instances/{self.instance_id}/relays/{relay}/link", token=self.user.token)
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return resp.get_json()


def hire_running(client: ApiClient, db: Any, user: Any, slug: str = "inbox-zero") -> str:
    from devstack.chat_stack import drain_jobs

    resp = client.post("/api/instances", json_body={"agent": slug}, token=user.token)
    assert resp.status_code in (200, 202), resp.get_data(as_text=True)
    instance_id = resp.get_json()["id"]
    drain_jobs(db, ["lifecycle"], timeout=90)
    with db.service() as tx:
        for r in tx.sql("select decrypted_secret from vault.decrypted_secrets"):
            RECORDER.secret(r["decrypted_secret"])
    status = client.get(f"/api/instances/{instance_id}", token=user.token).get_json()["status"]
    assert status == "running", status
    return instance_id


@pytest.fixture
def agent(relay_stack: RelayStack, db: Any, seeded: None, make_user: Any, client: ApiClient) -> Agent:
    from tests.support.billing_helpers import set_credits

    relay_stack.fakes.target(relay_stack.base_url)
    relay_stack.fakes.reset()
    user = make_user()
    set_credits(db, user.id, subscription=5000)
    return Agent(user, hire_running(client, db, user), client, relay_stack)


def wait_for(predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    return polling.wait_for(predicate, timeout, every=0.05, what=what)


def tmp_file(tmp_path: Path, name: str) -> Path:
    return tmp_path / name
