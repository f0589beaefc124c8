"""Rate limits declared on routes hold across serverless instances (the count is in Postgres): 429
problems with Retry-After, per user, configurable by RATE_LIMITS."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

from shared.config import overridden
from tests.support.harness import RECORDER, ApiClient, assert_problem


def _limits(**limits: int) -> dict[str, str]:
    return {"RATE_LIMITS": json.dumps({k.replace("_", "-"): {"limit": v, "window_s": 3600} for k, v in limits.items()})}


def test_two_function_instances_share_one_count(user, make_user):
    from devstack.server import VercelDispatcher

    a, b = ApiClient(VercelDispatcher()), ApiClient(VercelDispatcher())  # two apps, as two cold starts
    key = {"api_key": "sk-rl-" + uuid.uuid4().hex}
    RECORDER.secret(key["api_key"])
    with overridden(_limits(keys=3)):
        assert [c.put("/api/keys/openai", token=user.token, json_body=key).status_code for c in (a, b, a)] == [200] * 3
        limited = b.put("/api/keys/openai", token=user.token, json_body=key)
        body = assert_problem(limited, 429)
        assert body["type"].endswith("/rate-limited") and 1 <= int(limited.headers["Retry-After"]) <= 3600
        assert_problem(a.delete("/api/keys/openai", token=user.token), 429)  # the same limit: `keys`
        other = make_user()
        assert a.put("/api/keys/openai", token=other.token, json_body=key).status_code == 200  # per user


def test_hire_and_chat_are_limited_per_user(client, user):
    with overridden(_limits(hire=2, chat=2)):
        for _ in range(2):
            assert_problem(client.post("/api/instances", token=user.token, json_body={"agent": "no-such-agent"}), 404)
        assert_problem(client.post("/api/instances", token=user.token, json_body={"agent": "no-such-agent"}), 429)
        chat = {"instance_id": str(uuid.uuid4()), "message": "hi", "client_message_id": uuid.uuid4().hex}
        for _ in range(2):
            assert_problem(client.post("/api/chat/stream", token=user.token, json_body=chat), 404)
        limited = client.post("/api/chat/stream", token=user.token, json_body=chat)
        assert_problem(limited, 429)
        assert "Retry-After" in limited.headers


def test_concurrent_hits_are_counted_exactly(client, user):
    with overridden(_limits(hire=20)):
        def hire(_: int) -> int:
            return client.post("/api/instances", token=user.token, json_body={"agent": "no-such-agent"}).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(hire, range(30)))
    assert statuses.count(404) == 20 and statuses.count(429) == 10


def test_a_limit_of_zero_switches_it_off(client, user):
    with overridden(_limits(hire=0)):
        for _ in range(5):
            assert_problem(client.post("/api/instances", token=user.token, json_body={"agent": "no-such-agent"}), 404)


def test_rate_limited_routes_document_429(client):
    doc = client.get("/api/openapi.json").get_json()
    for path, method in (("/api/chat/stream", "post"), ("/api/instances", "post"), ("/api/keys/{provider}", "put"),
                         ("/api/dev/sign-in", "post"), ("/llm/v1/chat/completions", "post")):
        assert "429" in doc["paths"][path][method]["responses"], (path, method)


def test_relay_intake_is_limited_once_verified(client):
    from shared.relays import telegram
    from tests.support.harness import CANARIES

    headers = {telegram.SECRET_HEADER: CANARIES["TELEGRAM_WEBHOOK_SECRET"], "Content-Type": "application/json",
               "X-Real-IP": f"203.0.113.{uuid.uuid4().int % 250}"}
    update = json.dumps({"update_id": 1, "edited_message": {}})  # acknowledged, nothing to handle
    with overridden(_limits(relay_intake=2)):
        forged = {**headers, telegram.SECRET_HEADER: "wrong"}
        for _ in range(3):  # refused by the verifier before anything is counted
            assert client.post("/functions/v1/telegram-webhook", data=update, headers=forged).status_code in (401, 403)
        for _ in range(2):
            assert client.post("/functions/v1/telegram-webhook", data=update, headers=headers).status_code == 200
        limited = client.post("/functions/v1/telegram-webhook", data=update, headers=headers)
        assert_problem(limited, 429)
        assert int(limited.headers["Retry-After"]) >= 1
