"""For LLM-proxy tests: an instance of a signed-in user with its proxy token, calls through the proxy
(in process, over the Vercel dispatcher), and the rows they leave."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from tests.support.billing_helpers import World, world
from tests.support.harness import RECORDER

CHAT_PATH = "/llm/v1/chat/completions"
MESSAGES_PATH = "/llm/v1/messages"


@dataclass
class Proxied:
    """A user's instance that calls models through the proxy."""

    user: Any  # SignedInUser
    world: World
    token: str

    @property
    def instance_id(self) -> str:
        return self.world.instance_id


def proxied(db: Any, user: Any, *, pricing_model: str = "free") -> Proxied:
    from shared.llm import tokens

    w = world(db, pricing_model=pricing_model, user_id=user.id)
    token = tokens.ensure_token(w.instance_id)
    RECORDER.secret(token)
    return Proxied(user, w, token)


def chat(client: Any, token: str, *, stream: bool = False, model: str = "fake-model", text: str = "hello",
         headers: dict[str, str] | None = None) -> Any:
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]}
    return client.post(CHAT_PATH, json_body=body, headers={"Authorization": f"Bearer {token}", **(headers or {})})


def messages(client: Any, token: str, *, stream: bool = False, model: str = "claude-haiku-4-5",
             headers: dict[str, str] | None = None) -> Any:
    body = {"model": model, "max_tokens": 64, "stream": stream, "messages": [{"role": "user", "content": "hello"}]}
    return client.post(MESSAGES_PATH, json_body=body, headers={"x-api-key": token, **(headers or {})})


def sse_data(resp: Any) -> list[Any]:
    """The `data:` payloads of an SSE body, JSON-decoded ([DONE] as the string)."""
    out: list[Any] = []
    for line in resp.get_data(as_text=True).splitlines():
        if line.startswith("data:"):
            raw = line[5:].strip()
            out.append(raw if raw == "[DONE]" else json.loads(raw))
    return out


def model_calls(db: Any, instance_id: str) -> list[dict[str, Any]]:
    """The instance's model-call rows, oldest first (ids as strings)."""
    with db.service() as tx:
        rows = tx.sql("select * from usage_events where instance_id = %(i)s and source_request_id like 'llm:%%'"
                      " order by id", {"i": instance_id}).fetchall()
    return [{k: str(v) if isinstance(v, uuid.UUID) else v for k, v in r.items()} for r in rows]


def streaming_turn(db: Any, w: World) -> str:
    with db.service() as tx:
        return str(tx.sql("insert into turns (session_id, user_id, instance_id, client_message_id, status)"
                          " values (%(s)s, %(u)s, %(i)s, %(c)s, 'streaming') returning id",
                          {"s": w.session_id, "u": w.user_id, "i": w.instance_id,
                           "c": uuid.uuid4().hex}).fetchone()["id"])
