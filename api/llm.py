"""The LLM proxy (machine-facing): OpenAI- and Anthropic-style model calls with the instance's proxy
token, forwarded with the user's or the platform's key and metered (ARCHITECTURE §5a, §6)."""

from __future__ import annotations

from flask import Response, request

from shared import ratelimit
from shared.llm import auth, errors, proxy
from shared.web import RequestContext, Router, create_app

router = Router("llm")

# limit_in_handler: the call's opening statement counts the limit (shared.llm.opening), one round trip
# fewer in front of every model call; an unclaimed unit's warm-up call is counted on its own.
PROXY_LIMIT = ratelimit.RateLimit("llm-proxy", ratelimit.LLM_PROXY, key=auth.instance_key,
                                  refusal=errors.rate_limited)


@router.post("/llm/v1/chat/completions", auth=auth.PROXY_TOKEN.name, body=proxy.OpenAIChatRequest, stream=True,
             rate_limit=PROXY_LIMIT, limit_in_handler=True, errors=(400, 402, 413, 422, 429, 502, 503), tags=["llm proxy"],
             summary="An OpenAI-compatible chat completion, forwarded and metered (proxy token)")
def chat_completions(ctx: RequestContext, body: proxy.OpenAIChatRequest) -> Response:
    return proxy.forward("openai", body, ctx.verified_body, request.headers, PROXY_LIMIT)


@router.post("/llm/v1/messages", auth=auth.PROXY_TOKEN.name, body=proxy.AnthropicMessagesRequest, stream=True,
             rate_limit=PROXY_LIMIT, limit_in_handler=True, errors=(400, 402, 413, 422, 429, 502, 503), tags=["llm proxy"],
             summary="An Anthropic Messages call, forwarded and metered (proxy token)")
def messages(ctx: RequestContext, body: proxy.AnthropicMessagesRequest) -> Response:
    return proxy.forward("anthropic", body, ctx.verified_body, request.headers, PROXY_LIMIT)


app = create_app(__name__, [router])
