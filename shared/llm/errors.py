"""What the proxy answers when it does not forward a call: a problem (`application/problem+json`,
like every error of the platform) that also carries the `error` object OpenAI and Anthropic clients
read, so the agent can tell its user what happened:

    {"type": "https://openagents.dev/problems/spend-cap", "title": …, "status": 429, "detail": …,
     "error": {"type": "spend_cap_exceeded", "code": "spend_cap_exceeded", "message": …}}

    401 invalid_proxy_token      no token, an unknown one, or one of a destroyed instance
    402 insufficient_credits     the user is out of credits (no provider call is made)
    429 spend_cap_exceeded       a spend cap would be exceeded (Retry-After: until the window ends)
    429 rate_limit_exceeded      too many calls from this instance (Retry-After)
    502 upstream_unreachable     the provider could not be reached
    503 provider_not_configured  neither the user nor the platform has a key for this provider
"""

from __future__ import annotations

from shared.problems import Problem


def refusal(status: int, title: str, message: str, *, code: str, error_type: str,
            headers: dict[str, str] | None = None) -> Problem:
    return Problem(status, title, message, code=code.replace("_", "-"), headers=headers,
                   error={"type": error_type, "code": code, "message": message})


def invalid_token() -> Problem:
    return refusal(401, "Unauthorized", "The LLM proxy needs this instance's proxy token.",
                   code="invalid_proxy_token", error_type="authentication_error",
                   headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def out_of_credits() -> Problem:
    return refusal(402, "Payment Required",
                   "Your OpenAgents credits are used up, so the agent cannot call its model. "
                   "Top up or upgrade your plan to continue.",
                   code="insufficient_credits", error_type="insufficient_quota")


def spend_cap(scope: str, window: str, cap: int, retry_after: int) -> Problem:
    who = "This agent" if scope == "instance" else "Your account"
    return refusal(429, "Too Many Requests",
                   f"{who} reached its {window} spend cap of {cap} credits, so model calls are paused until the "
                   f"cap resets (in {retry_after} s) or the cap is raised.",
                   code="spend_cap_exceeded", error_type="rate_limit_error",
                   headers={"Retry-After": str(retry_after)})


def rate_limited(retry_after: int) -> Problem:
    return refusal(429, "Too Many Requests", f"Too many model calls from this agent; retry in {retry_after} s.",
                   code="rate_limit_exceeded", error_type="rate_limit_error",
                   headers={"Retry-After": str(retry_after)})


def upstream_unreachable(provider: str) -> Problem:
    return refusal(502, "Bad Gateway", f"The model provider ({provider}) could not be reached; try again.",
                   code="upstream_unreachable", error_type="api_error")


def provider_not_configured(provider: str) -> Problem:
    return refusal(503, "Service Unavailable",
                   f"No key for {provider}: add your own with PUT /api/keys/{provider}.",
                   code="provider_not_configured", error_type="api_error")


def bad_request(message: str) -> Problem:
    return refusal(400, "Bad Request", message, code="invalid_request", error_type="invalid_request_error")
