"""Helpers for tests that drive an agent machine's bridge: SSE reading, signed bundles, signing keys.

    SigningKeys.generate()         an active and a retired Ed25519 key, with the machines' JSON key set
    skill_files(name, permissions) a skill folder whose SKILL.md front matter declares `permissions`
    make_bundle(version, ...)      the JSON body of PUT /v1/bundle (skills signed unless told otherwise)
    read_sse(response)             an httpx streaming response → [SSEEvent] (comments kept as `comment`)
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.skills.signatures import public_key_b64, sign_skill


@dataclass
class SigningKeys:
    active: Ed25519PrivateKey
    retired: Ed25519PrivateKey
    active_id: str = "k-2026"
    retired_id: str = "k-2025"

    @classmethod
    def generate(cls) -> SigningKeys:
        return cls(Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate())

    @property
    def public_json(self) -> str:
        return json.dumps({self.active_id: public_key_b64(self.active), self.retired_id: public_key_b64(self.retired)})


def skill_files(name: str, permissions: Any, *, description: str = "A test skill", body: str = "Use it wisely.\n",
                extra: Mapping[str, bytes] | None = None) -> dict[str, bytes]:
    front = yaml.safe_dump({"name": name, "description": description, "permissions": permissions}, sort_keys=False)
    return {"SKILL.md": f"---\n{front}---\n\n# {name}\n\n{body}".encode(), **dict(extra or {})}


@dataclass
class SkillSpec:
    files: dict[str, bytes]
    permissions: Any
    sign: bool = True
    key: str = "active"  # active | retired | unknown
    include_hashes: bool = True


def make_bundle(version: str, keys: SigningKeys, *, workspace: Mapping[str, bytes | str] | None = None,
                skills: Mapping[str, SkillSpec] | None = None, meta: Mapping[str, bytes | str] | None = None,
                signatures_override: Mapping[str, Any] | None = None) -> dict[str, Any]:
    files: dict[str, str] = {}

    def put(path: str, data: bytes | str) -> None:
        files[path] = base64.b64encode(data.encode() if isinstance(data, str) else data).decode()

    for path, data in (meta or {"agent.yaml": "name: test-agent\n", "openagents.yaml": "pricing: free\n",
                                 "README.md": "# Test agent\n"}).items():
        put(path, data)
    for path, data in (workspace or {}).items():
        put(f"workspace/{path}", data)
    signatures: dict[str, Any] = {}
    for name, spec in (skills or {}).items():
        for rel, data in spec.files.items():
            put(f"skills/{name}/{rel}", data)
        if spec.sign:
            key, key_id = {"active": (keys.active, keys.active_id), "retired": (keys.retired, keys.retired_id),
                           "unknown": (Ed25519PrivateKey.generate(), "k-unknown")}[spec.key]
            sig = sign_skill(spec.files, spec.permissions, key, key_id).to_dict()
            if not spec.include_hashes:
                sig = {"key_id": sig["key_id"], "signature": sig["signature"]}
            signatures[name] = sig
    signatures.update(signatures_override or {})
    return {"version": version, "files": files, "signatures": signatures}


@dataclass
class SSEEvent:
    event: str
    data: Any = None
    id: int | None = None
    comment: str | None = None


@dataclass
class SSEReader:
    """Incremental SSE parsing over an httpx streaming response."""

    response: httpx.Response
    _lines: Iterator[str] | None = field(default=None, init=False)

    def __iter__(self) -> Iterator[SSEEvent]:
        if self._lines is None:
            self._lines = self.response.iter_lines()
        ev: dict[str, Any] = {}
        for line in self._lines:
            if line == "":
                if ev:
                    data = ev.get("data")
                    yield SSEEvent(event=ev.get("event", "message"), data=json.loads(data) if data else None,
                                   id=int(ev["id"]) if "id" in ev else None)
                    ev = {}
                continue
            if line.startswith(":"):
                yield SSEEvent(event="comment", comment=line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            ev[name] = ev.get(name, "") + ("\n" if name == "data" and name in ev else "") + value


def read_sse(response: httpx.Response) -> list[SSEEvent]:
    return list(SSEReader(response))


def text_of(events: list[SSEEvent]) -> str:
    return "".join(e.data["text"] for e in events if e.event == "token")


def real_events(events: list[SSEEvent]) -> list[SSEEvent]:
    return [e for e in events if e.event != "comment"]
