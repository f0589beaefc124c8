"""Identifiers shaped like Fly's, so code and logs that look at them see familiar shapes."""

from __future__ import annotations

import itertools
import os
import secrets
import time
from datetime import UTC, datetime

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_counter = itertools.count(1)


def machine_id() -> str:
    """14 hex characters, like `3d8d9d1f0e9e89`."""
    return secrets.token_hex(7)


def volume_id() -> str:
    return "vol_" + "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16))


def snapshot_id() -> str:
    return "vs_" + secrets.token_hex(10)


def app_id() -> str:
    return secrets.token_hex(8)


def ulid() -> str:
    """26-character, time-ordered (machine versions and event ids are ULIDs on Fly)."""
    ms = int(time.time() * 1000)
    value = (ms << 80) | (next(_counter) % (1 << 16)) << 64 | int.from_bytes(os.urandom(8))
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def nonce() -> str:
    return secrets.token_hex(16)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def private_ip(app_number: int, machine_number: int) -> str:
    """A 6PN-looking address, unique per machine in this emulator."""
    return f"fdaa:0:{app_number:x}:a7b:{(machine_number >> 16) & 0xFFFF:x}:{machine_number & 0xFFFF:x}:{secrets.randbelow(0xFFFF):x}:2"


def machine_number(address: str) -> int:
    """The machine number `private_ip` was made from (0 if the address is not one of ours)."""
    parts = address.split(":")
    try:
        return (int(parts[4], 16) << 16) | int(parts[5], 16)
    except (IndexError, ValueError):
        return 0
