"""Errors in Stripe's v1 shape: `{"error": {type, message, code?, param?, doc_url?}}` with its status.

stripe-python picks its exception class from the status and `error.type` (400/404 →
InvalidRequestError or IdempotencyError, 401 → AuthenticationError, 402 → CardError, 403 →
PermissionError, 429 → RateLimitError, else APIError), so the status matters as much as the body.
Messages copy the wording Stripe uses where it is known (noted per constructor).
"""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        should_retry: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        # Sent as `Stripe-Should-Retry`; stripe-python obeys it before its own retry rules.
        self.should_retry = should_retry

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        return {"error": error}

    def headers(self) -> dict[str, str]:
        if self.should_retry is None:
            return {}
        return {"Stripe-Should-Retry": "true" if self.should_retry else "false"}

    # --- the errors the fake raises -------------------------------------------------------------

    @classmethod
    def invalid(cls, message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
        return cls(400, message, param=param, code=code)

    @classmethod
    def missing(cls, resource: str, object_id: str, param: str = "id") -> StripeError:
        # Stripe: "No such customer: 'cus_123'" (code resource_missing, 404).
        return cls(404, f"No such {resource}: '{object_id}'", code="resource_missing", param=param)

    @classmethod
    def missing_param(cls, param: str) -> StripeError:
        return cls(400, f"Missing required param: {param}.", code="parameter_missing", param=param)

    @classmethod
    def unknown_param(cls, param: str) -> StripeError:
        return cls(400, f"Received unknown parameter: {param}", code="parameter_unknown", param=param)

    @classmethod
    def invalid_integer(cls, param: str, value: Any) -> StripeError:
        return cls(400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param)

    @classmethod
    def no_api_key(cls) -> StripeError:
        return cls(
            401,
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
            "https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
        )

    @classmethod
    def bad_api_key(cls, key: str) -> StripeError:
        return cls(401, f"Invalid API Key provided: {mask_key(key)}")

    @classmethod
    def idempotency_mismatch(cls, key: str) -> StripeError:
        # Stripe's exact wording (400, type idempotency_error → stripe.IdempotencyError).
        return cls(
            400,
            "Keys for idempotent requests can only be used with the same parameters they were first used "
            f"with. Try using a key other than '{key}' if you meant to execute a different request.",
            type="idempotency_error",
        )

    @classmethod
    def unrecognized_url(cls, method: str, path: str) -> StripeError:
        return cls(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
        )

    @classmethod
    def account_invalid(cls, api_key: str, account: str) -> StripeError:
        # Stripe answers 403 (stripe.PermissionError) for a connected account that is not ours or
        # does not exist, rather than a 404.
        return cls(
            403,
            f"The provided key '{mask_key(api_key)}' does not have access to account '{account}' "
            "(or that account does not exist). Application access may have been revoked.",
            code="account_invalid",
        )


def mask_key(key: str) -> str:
    head, _, rest = key.partition("_test_")
    if not rest:
        return "*" * max(len(key) - 4, 0) + key[-4:]
    return f"{head}_test_" + "*" * max(len(rest) - 4, 0) + rest[-4:]
