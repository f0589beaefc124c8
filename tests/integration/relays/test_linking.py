"""Link tokens (single use, expiring, owner only), connections and unlinking, and the retry rules of
the processing job — through the API and the job in-process, no agent needed."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from jobs.relays import RelayRetry
from shared.relays.models import RateLimited
from tests.integration.relays.conftest import TG_SECRET, drain_relays
from tests.support.billing_helpers import world
from tests.support.harness import assert_problem

HEADERS = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET, "Content-Type": "application/json"}


def _instance(db, user) -> str:
    return world(db, pricing_model="free", user_id=user.id).instance_id


def _say(client, fake, user_id: int, text: str) -> None:
    update = fake.state.new_update(user_id=user_id, text=text)
    assert client.post("/functions/v1/telegram-webhook", data=json.dumps(update), headers=HEADERS).status_code == 200


def _replies(fake, user_id: int) -> list[str]:
    return [c["text"] for c in fake.sent(chat_id=user_id)]


def test_a_token_links_once_and_expires(client, relay_env, db, make_user):
    owner = make_user()
    iid = _instance(db, owner)
    link = client.post(f"/api/instances/{iid}/relays/telegram/link", token=owner.token).get_json()
    fake = relay_env.telegram
    _say(client, fake, 801, f"/start {link['token']}")
    drain_relays(db)
    _say(client, fake, 802, f"/start {link['token']}")  # the same token again, from someone else
    drain_relays(db)
    assert _replies(fake, 801)[0].startswith("Linked!")
    assert "expired or already used" in _replies(fake, 802)[0]
    expired = client.post(f"/api/instances/{iid}/relays/telegram/link", token=owner.token).get_json()
    with db.service() as tx:
        tx.sql("update relay_link_tokens set expires_at = now() - interval '1 second' where expires_at = %(e)s",
               {"e": expired["expires_at"]})
    _say(client, fake, 803, f"/start {expired['token']}")
    slack_token = client.post(f"/api/instances/{iid}/relays/slack/link", token=owner.token).get_json()["token"]
    _say(client, fake, 804, f"/start {slack_token}")  # a Slack token does not link Telegram
    drain_relays(db)
    assert "expired or already used" in _replies(fake, 803)[0]
    assert "expired or already used" in _replies(fake, 804)[0]
    conns = client.get(f"/api/instances/{iid}/relays", token=owner.token).get_json()["items"]
    assert [(c["relay"], c["external_user_id"], c["external_chat_id"]) for c in conns] == [("telegram", "801", "801")]


def test_another_user_cannot_link_list_or_unlink_your_instance(client, relay_env, db, make_user):
    owner, other = make_user(), make_user()
    iid = _instance(db, owner)
    assert_problem(client.post(f"/api/instances/{iid}/relays/telegram/link", token=other.token), 404)
    assert_problem(client.get(f"/api/instances/{iid}/relays", token=other.token), 404)
    assert_problem(client.post(f"/api/instances/{iid}/relays/telegram/link"), 401)
    assert_problem(client.post(f"/api/instances/{iid}/relays/irc/link", token=owner.token), 404)
    link = client.post(f"/api/instances/{iid}/relays/telegram/link", token=owner.token).get_json()
    _say(client, relay_env.telegram, 811, f"/start {link['token']}")
    drain_relays(db)
    (conn,) = client.get(f"/api/instances/{iid}/relays", token=owner.token).get_json()["items"]
    assert_problem(client.delete(f"/api/relays/{conn['id']}", token=other.token), 404)
    assert client.delete(f"/api/relays/{conn['id']}", token=owner.token).status_code == 204
    assert client.get(f"/api/instances/{iid}/relays", token=owner.token).get_json()["items"] == []
    relay_env.telegram.reset()
    _say(client, relay_env.telegram, 811, "are you there?")  # unlinked again: the prompt, no turn
    drain_relays(db)
    assert "isn't linked" in _replies(relay_env.telegram, 811)[0]


def test_out_of_credits_is_a_polite_reply_without_an_agent_call(client, relay_env, db, make_user):
    from tests.support.billing_helpers import set_credits

    owner = make_user()
    iid = _instance(db, owner)
    set_credits(db, owner.id, subscription=0)
    link = client.post(f"/api/instances/{iid}/relays/telegram/link", token=owner.token).get_json()
    _say(client, relay_env.telegram, 821, f"/start {link['token']}")
    _say(client, relay_env.telegram, 821, "hello?")
    drain_relays(db)  # the instance has no machine: reaching the agent would have failed loudly
    assert "out of credits" in _replies(relay_env.telegram, 821)[1]
    with db.service() as tx:
        assert tx.sql("select count(*) as n from turns where instance_id = %(i)s and client_message_id like 'relay:%%'",
                      {"i": iid}).fetchone()["n"] == 0


@pytest.mark.parametrize(("exc", "attempts", "wait"), [(RateLimited(37), 0, 37), (RateLimited(0.2), 3, 1),
                                                       (RuntimeError("x"), 0, 2), (RuntimeError("x"), 9, None)])
def test_the_job_retries_after_the_platforms_retry_after(exc, attempts, wait):
    decision = RelayRetry().get_retry_decision(exception=exc, job=SimpleNamespace(attempts=attempts))
    if wait is None:
        assert decision is None
    else:
        from datetime import UTC, datetime

        left = (decision.retry_at - datetime.now(UTC)).total_seconds()
        assert wait - 2 <= left <= wait + 0.5
