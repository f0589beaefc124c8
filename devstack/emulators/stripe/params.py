"""Request parameters: required/typed values, metadata semantics, and unknown-parameter checks.

Stripe rejects parameters it does not know (`Received unknown parameter: …`). The fake knows which
parameters exist from stripe-python's own request types (`stripe.params.*CreateParams` TypedDicts,
generated from Stripe's OpenAPI spec), walking nested hashes and lists too, so a typo in our
code fails against the fake as it would against Stripe. Without the SDK installed the check is skipped.
"""

from __future__ import annotations

import importlib
import sys
import types
import typing
from functools import cache
from typing import Any

from .errors import StripeError

# Keys of stripe-python's RequestOptions: client-side options, never sent as parameters.
_REQUEST_OPTIONS = frozenset(
    {
        "api_key",
        "content_type",
        "headers",
        "idempotency_key",
        "max_network_retries",
        "stripe_account",
        "stripe_context",
        "stripe_version",
    }
)


def require(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise StripeError.missing_param(name)
    return value


def as_int(
    params: dict[str, Any], name: str, *, required: bool = False, default: int | None = None
) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise StripeError.missing_param(name)
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StripeError.invalid_integer(name, value) from None


def as_bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def as_dict(params: dict[str, Any], name: str) -> dict[str, Any]:
    value = params.get(name)
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise StripeError.invalid("Invalid object", param=name)
    return value


def as_list(params: dict[str, Any], name: str) -> list[Any]:
    value = params.get(name)
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):  # `a[5]=…` only, already listified unless keys were odd
        return list(value.values())
    return [value]


def merge_metadata(current: dict[str, str] | None, given: Any) -> dict[str, str]:
    """Stripe's metadata update rules: keys merge, an empty value unsets a key, `metadata=""` clears all."""
    result = dict(current or {})
    if given is None:
        return result
    if given == "":
        return {}
    if not isinstance(given, dict):
        raise StripeError.invalid("Invalid hash", param="metadata")
    for key, value in given.items():
        if value == "":
            result.pop(key, None)
        else:
            result[key] = str(value)
    return result


# --- unknown-parameter check against stripe-python's request types ------------------------------


def check_known(params: dict[str, Any], params_class: str | None) -> None:
    """Raise `parameter_unknown` for any key the endpoint's SDK params type does not declare.

    `params_class` is "module:Class" under `stripe.params`, e.g. "checkout:SessionCreateParams".
    """
    if not params_class:
        return
    cls = _resolve(params_class)
    if cls is None:
        return
    _walk(params, cls, prefix="", top=True)


@cache
def _resolve(params_class: str) -> Any:
    module_name, _, class_name = params_class.rpartition(":")
    module = "stripe.params" + (f".{module_name}" if module_name else "")
    try:
        return getattr(importlib.import_module(module), class_name)
    except (ImportError, AttributeError):
        return None


@cache
def _hints(cls: Any) -> dict[str, Any]:
    """Each key's evaluated annotation, one key at a time: the SDK's annotations include names
    imported only for type checkers, which would sink `typing.get_type_hints` for the whole class."""
    module_globals = vars(sys.modules[cls.__module__])
    hints: dict[str, Any] = {}
    for key, annotation in cls.__annotations__.items():
        holder = _annotation_holder(key, annotation)
        try:
            hints[key] = typing.get_type_hints(holder, globalns=module_globals)[key]
        except Exception:  # noqa: S112 (not evaluable at runtime: that key's sub-fields go unchecked)
            continue
    return hints


def _annotation_holder(key: str, annotation: Any) -> Any:
    def holder() -> None: ...

    holder.__annotations__ = {key: annotation}
    return holder


def _is_typed_dict(tp: Any) -> bool:
    return isinstance(tp, type) and hasattr(tp, "__required_keys__")


def _walk(value: Any, tp: Any, prefix: str, top: bool = False) -> None:
    if _is_typed_dict(tp):
        if not isinstance(value, dict):
            return  # "" unsets a hash; other scalar mismatches are not this check's business
        allowed = set(tp.__required_keys__) | set(tp.__optional_keys__)
        if top:
            allowed -= _REQUEST_OPTIONS
        hints = _hints(tp)
        for key, sub in value.items():
            name = f"{prefix}[{key}]" if prefix else key
            if key not in allowed:
                raise StripeError.unknown_param(name)
            if key in hints:
                _walk(sub, hints[key], name)
        return
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        candidates = typing.get_args(tp)
        if isinstance(value, dict):
            dicts = [c for c in candidates if _is_typed_dict(c)]
            if len(dicts) == 1:
                _walk(value, dicts[0], prefix)
        elif isinstance(value, list):
            lists = [c for c in candidates if typing.get_origin(c) is list]
            if len(lists) == 1:
                _walk(value, lists[0], prefix)
        return
    if origin is list and isinstance(value, list):
        (item_type,) = typing.get_args(tp) or (Any,)
        for index, item in enumerate(value):
            _walk(item, item_type, f"{prefix}[{index}]")
