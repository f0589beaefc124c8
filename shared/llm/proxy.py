"""The LLM proxy: how agent machines reach models (ARCHITECTURE §5a "LLM proxy"; issue 11 item 2).

    POST /llm/v1/chat/completions   OpenAI-compatible (OpenAI, OpenRouter, Google by model prefix)
    POST /llm/v1/messages           Anthropic

One call, in order:
1. the proxy token names the instance (`auth.ProxyToken`, before the handler);
2. one statement (`opening.open_call`) counts the declared rate limit per instance and reads the
   call's turn — the one the bridge names (`x-openagents-turn-id`), else the instance's turn in
   progress, else none —, what credits and spend caps need, and the user's own key;
3. credits and spend caps (`budget.check`) — a refusal here means no provider call at all;
4. the key: the user's own for that provider (BYOK, from Vault) if there is one, else the platform's;
   the machine's token is never passed on;
5. the call goes to the provider as the machine sent it (the model name without its provider
   prefix; OpenAI streams ask for their usage chunk) and the answer comes back byte for byte —
   streamed as it arrives, with nothing buffered beyond one line for reading the usage;
6. the usage the provider reported is recorded once (`metering.record`), when the answer is complete
   or the machine went away mid-stream (then what went by is counted).

A call with an unclaimed warm-pool unit's token is none of this: the proxy answers it itself, free
(`warmup.py`).

A provider's own error is passed back unchanged and costs nothing; a provider that cannot be
reached is a 502 (one retry when the connection could not even be made).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from flask import Response, stream_with_context
from pydantic import ConfigDict, Field
from werkzeug.datastructures import Headers

from shared import logs, ratelimit
from shared.billing.pricing import estimate_tokens
from shared.llm import auth, errors, metering, opening, warmup
from shared.llm.providers import ANTHROPIC_VERSION, Dialect, Provider, platform_key, route_model, upstream
from shared.llm.usage import CallUsage, StreamMeter, from_json
from shared.models import Model

if TYPE_CHECKING:
    import httpx

    from shared.llm.tokens import Caller

log = logging.getLogger("openagents.llm")

MAX_ERROR_BYTES = 64 * 1024
_PASSED_HEADERS = ("anthropic-beta", "openai-beta")
_RETURNED_HEADERS = ("retry-after", "x-request-id", "request-id")


class OpenAIChatRequest(Model):
    """An OpenAI chat completion request; fields beyond these go to the provider as they are."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    messages: list[dict[str, Any]] = Field(min_length=1, max_length=100_000)
    stream: bool = False


class AnthropicMessagesRequest(Model):
    """An Anthropic Messages request; fields beyond these go to the provider as they are."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    messages: list[dict[str, Any]] = Field(min_length=1, max_length=100_000)
    max_tokens: int = Field(ge=1, le=10_000_000)
    stream: bool = False


def forward(dialect: Dialect, body: OpenAIChatRequest | AnthropicMessagesRequest, raw: bytes,
            headers: Headers, limit: ratelimit.RateLimit) -> Response:
    """The call, `limit` counted per instance (or per unclaimed unit) here: the route leaves it to the
    opening's statement (`limit_in_handler`)."""
    unit = auth.warmup_unit()
    if unit is not None:
        from shared.llm.upstream_http import client

        ratelimit.enforce(limit, f"pool-{unit}")
        client()  # made now, off the hire's path: its first forwarded call would wait for it (upstream_http)
        options = body.model_extra.get("stream_options") if body.model_extra else None
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        return warmup.answer(dialect, body.model, stream=body.stream, include_usage=include_usage, unit_id=unit)
    caller = auth.caller()
    provider, upstream_model = route_model(dialect, body.model)
    estimated = estimate_tokens(raw.decode("utf-8", "replace"))
    opened = opening.open_call(caller, provider, body.model, estimated, headers.get(metering.TURN_HEADER), limit)
    turn_id = opened.turn_id
    byok = opened.key is not None
    key = opened.key or platform_key(provider)
    if key is None:
        raise errors.provider_not_configured(provider)

    payload = json.loads(raw)
    payload["model"] = upstream_model
    if dialect == "openai" and body.stream:
        options = payload.get("stream_options")
        payload["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    call = _Call(caller, provider, dialect, body.model, turn_id, estimated, byok)
    resp = _send(provider, dialect, key, payload, headers, stream=body.stream)
    if resp.status_code >= 400:
        return call.provider_error(resp)
    if body.stream:
        return call.relay_stream(resp)
    return call.relay_whole(resp)


def _send(provider: Provider, dialect: Dialect, key: str, payload: dict[str, Any], headers: Headers,
          *, stream: bool) -> httpx.Response:
    import httpx

    from shared.llm.upstream_http import client

    up = upstream(provider)
    out = {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json",
           **up.auth_headers(key)}
    if dialect == "anthropic":
        out["anthropic-version"] = headers.get("anthropic-version") or ANTHROPIC_VERSION
    for name in _PASSED_HEADERS:
        if headers.get(name):
            out[name] = headers[name]
    http = client()
    request = http.build_request("POST", up.call_url, headers=out, content=json.dumps(payload).encode())
    for attempt in (1, 2):
        try:
            return http.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Not even connected: the provider never saw the call, so trying again cannot bill it twice.
            if attempt == 2:
                logs.log(log, logging.WARNING, "provider unreachable", provider=provider, error=type(exc).__name__)
                raise errors.upstream_unreachable(provider) from None
        except httpx.HTTPError as exc:
            logs.log(log, logging.WARNING, "provider call failed", provider=provider, error=type(exc).__name__)
            raise errors.upstream_unreachable(provider) from None
    raise AssertionError("unreachable")


class _Call:
    def __init__(self, caller: Caller, provider: Provider, dialect: Dialect, model: str, turn_id: str | None,
                 estimated: int, byok: bool) -> None:
        self.caller = caller
        self.provider = provider
        self.dialect = dialect
        self.model = model
        self.turn_id = turn_id
        self.estimated = estimated
        self.byok = byok

    def _record(self, usage: CallUsage) -> None:
        try:
            metering.record(self.caller, self.provider, self.turn_id, self.model, usage, byok=self.byok)
        except Exception:
            # The answer has gone out; an unrecorded call is logged loudly rather than lost silently.
            log.exception("model call could not be recorded", extra={"instance_id": self.caller.instance_id})

    def _headers(self, resp: httpx.Response) -> dict[str, str]:
        return {k: resp.headers[k] for k in _RETURNED_HEADERS if k in resp.headers}

    def provider_error(self, resp: httpx.Response) -> Response:
        try:
            data = b""
            for chunk in resp.iter_bytes():
                data += chunk
                if len(data) > MAX_ERROR_BYTES:
                    break
        finally:
            resp.close()
        logs.log(log, logging.INFO, "provider refused a call", provider=self.provider, status=resp.status_code,
                 instance_id=self.caller.instance_id)
        return Response(data[:MAX_ERROR_BYTES], status=resp.status_code, headers=self._headers(resp),
                        content_type=resp.headers.get("content-type", "application/json"))

    def relay_whole(self, resp: httpx.Response) -> Response:
        try:
            data = resp.read()
        finally:
            resp.close()
        self._record(from_json(self.dialect, data, self.model, self.estimated))
        return Response(data, status=resp.status_code, headers=self._headers(resp),
                        content_type=resp.headers.get("content-type", "application/json"))

    def relay_stream(self, resp: httpx.Response) -> Response:
        meter = StreamMeter(self.dialect, self.model, self.estimated)

        def relay() -> Iterator[bytes]:
            try:
                for chunk in resp.iter_bytes():
                    meter.feed(chunk)
                    yield chunk
            except Exception as exc:  # the provider broke off: the machine sees its stream end
                logs.log(log, logging.WARNING, "provider stream broke off", provider=self.provider,
                         error=type(exc).__name__)
            finally:
                resp.close()
                usage = meter.result()
                if usage.reported or usage.output_tokens or meter.response_id:
                    self._record(CallUsage(usage.response_id, self.model, usage.input_tokens, usage.output_tokens,
                                           usage.reported))

        headers = {**self._headers(resp), "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return Response(stream_with_context(relay()), status=resp.status_code, headers=headers,
                        content_type=resp.headers.get("content-type", "text/event-stream"))
