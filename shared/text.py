"""Text from users that is stored or shown to others: one rule each, used by the models at the edge.

The database holds the same rules as checks (migration `…093000_hostile_input`), so a write that
goes around the API (PostgREST, a job) meets them too.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator

# What a name shown to other people may not contain: markup and C0/C1 control characters.
_NOT_PLAIN = re.compile(r"[<>\x00-\x1f\x7f-\x9f]")
# What a URL a browser follows may not contain (besides its scheme being http or https).
_NOT_IN_URL = re.compile(r"[\s<>\"'\x00-\x1f\x7f-\x9f]")


def normalize_email(value: str) -> str:
    """One spelling per address: NFKC folds compatibility characters (the Kelvin sign K becomes K)
    and casefold folds case beyond ASCII; NFKC again because folding can leave a form unnormalised."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())


def plain_name(value: str) -> str:
    if _NOT_PLAIN.search(value):
        raise ValueError("must be plain text, without <, > or control characters")
    return value


def http_url(value: str) -> str:
    if _NOT_IN_URL.search(value):
        raise ValueError("must not contain spaces, quotes, <, > or control characters")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http or https URL")
    return value


def _email_form(value: object) -> object:
    return normalize_email(value) if isinstance(value, str) else value


NormalizedEmail = Annotated[str, BeforeValidator(_email_form)]
PlainName = Annotated[str, AfterValidator(plain_name)]
HttpUrl = Annotated[str, AfterValidator(http_url)]


# What a chat message may not carry once cleaned: C0 controls but tab, line feed and carriage return;
# DEL and the C1 controls; lone surrogates (unencodable); bidirectional embeddings, overrides and
# isolates (they make text read differently from what it holds); the BOM and word joiner used as
# invisible padding; and the Unicode tag block, which renders as nothing yet models read it as ASCII
# (a known way to hide instructions in a message). Zero-width joiners stay: emoji and scripts need them.
_NOT_IN_MESSAGE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\u2060\ufeff\U000e0000-\U000e007f]")
MAX_MESSAGE_CHARS = 32_000


def clean_message(text: str) -> str:
    """A chat message as it may reach an agent: the characters above removed, then cut to
    MAX_MESSAGE_CHARS. For text that arrives where refusing is not an option (relay webhooks: the
    platform has already accepted the message); the web API refuses control characters instead."""
    return _NOT_IN_MESSAGE.sub("", text)[:MAX_MESSAGE_CHARS]


def invisible_free(value: str) -> str:
    """A chat message from the web: controls are refused earlier (shared.web.inputs); what is left of
    the invisible characters above is removed; nothing may remain empty."""
    cleaned = clean_message(value)
    if not cleaned.strip():
        raise ValueError("must contain visible text")
    return cleaned


ChatText = Annotated[str, AfterValidator(invisible_free)]
