"""Agent bundles for the creator-platform tests, in each upload form.

    agent_files(slug, skills=..., **listing)   a valid bundle: {path: text | bytes}
    skill_md(name, permissions, body)           a SKILL.md with front matter
    as_json / as_zip / as_tar_gz                the request body and its Content-Type
    upload(client, user, files, form=...)       POST /api/platform/agents
    verify_like_a_client(skill, public_keys)    §5c recomputed from scratch (hashlib + cryptography)
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import uuid
import zipfile
from collections.abc import Mapping
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

Files = dict[str, str | bytes]


def slug() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def skill_md(name: str, permissions: Any, body: str = "Summarise the text you are given.\n",
             description: str = "A test skill") -> str:
    front = yaml.safe_dump({"name": name, "description": description, "permissions": permissions}, sort_keys=False)
    return f"---\n{front}---\n\n# {name}\n\n{body}"


def listing_yaml(agent_slug: str, **over: Any) -> str:
    data: dict[str, Any] = {"slug": agent_slug, "name": f"Agent {agent_slug}", "tagline": "Helps with tests",
                            "category": "testing", "tags": ["test", "platform"],
                            "pricing": {"model": "per_task", "credits": 2}, "relays": ["telegram"],
                            "models": ["openai/gpt-5-mini"], "version": "1.0.0", "changelog": "First."}
    data.update(over)
    return yaml.safe_dump(data, sort_keys=False)


AGENT_YAML = "name: Test agent\ndescription: Does test things\nmodel:\n  default: openai/gpt-5-mini\n"


def agent_files(agent_slug: str, *, skills: Mapping[str, Files] | None = None, extra: Files | None = None,
                **listing: Any) -> Files:
    files: Files = {"openagents.yaml": listing_yaml(agent_slug, **listing), "agent.yaml": AGENT_YAML,
                    "README.md": f"# {agent_slug}\n\nA test agent.\n", "workspace/SOUL.md": "You help with tests.\n"}
    if skills is None:
        skills = {"summarise": {"SKILL.md": skill_md("summarise", {"network": ["api.openagents.dev"]})}}
    for name, skill in skills.items():
        for rel, data in skill.items():
            files[f"skills/{name}/{rel}"] = data
    files.update(extra or {})
    return files


def _bytes(data: str | bytes) -> bytes:
    return data.encode() if isinstance(data, str) else data


def as_json(files: Files) -> tuple[bytes, str]:
    out: dict[str, Any] = {}
    for path, data in files.items():
        out[path] = data if isinstance(data, str) else {"base64": base64.b64encode(data).decode()}
    return json.dumps({"bundle": {"files": out}}).encode(), "application/json"


def as_zip(files: Files, *, top: str = "") -> tuple[bytes, str]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in files.items():
            z.writestr(top + path, _bytes(data))
    return buf.getvalue(), "application/zip"


def as_tar_gz(files: Files, *, top: str = "") -> tuple[bytes, str]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for path, data in files.items():
            raw = _bytes(data)
            info = tarfile.TarInfo(top + path)
            info.size = len(raw)
            t.addfile(info, io.BytesIO(raw))
    return buf.getvalue(), "application/gzip"


FORMS = {"json": as_json, "zip": as_zip, "tar.gz": as_tar_gz}


def upload(client: Any, user: Any, files: Files, *, form: str = "json", method: str = "POST",
           path: str = "/api/platform/agents") -> Any:
    body, ctype = FORMS[form](files)
    return client.request(method, path, token=user.token, data=body, headers={"Content-Type": ctype})


def public_keys_from(served: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """The served keys as key objects (rows other tests planted that are not keys are left out)."""
    return {k["key_id"]: Ed25519PublicKey.from_public_bytes(raw) for k in served["items"]
            if len(raw := _b64url(k["public_key"])) == 32}


def machine_keys_json(served: Mapping[str, Any]) -> str:
    """The served keys as the machines' SKILL_SIGNING_PUBLIC_KEYS."""
    from shared.skills.signatures import public_key_b64

    return json.dumps({key_id: public_key_b64(key) for key_id, key in public_keys_from(served).items()})


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_like_a_client(skill: Mapping[str, Any], skill_files: Mapping[str, bytes],
                         public_keys: Mapping[str, Ed25519PublicKey]) -> None:
    """ARCHITECTURE §5c from the text of the spec, independent of shared/skills/signatures.py; raises on
    any mismatch (cryptography's InvalidSignature for a bad signature)."""
    h = hashlib.sha256()
    for path in sorted(skill_files):
        h.update(path.encode() + b"\0" + hashlib.sha256(skill_files[path]).hexdigest().encode() + b"\n")
    content_hash = h.hexdigest()
    canonical = json.dumps(skill["permissions"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    permissions_hash = hashlib.sha256(canonical.encode()).hexdigest()
    assert content_hash == skill["content_hash"], "content hash"
    assert permissions_hash == skill["permissions_hash"], "permissions hash"
    message = f"openagents-skill-v1\n{content_hash}\n{permissions_hash}".encode()
    public_keys[skill["key_id"]].verify(_b64url(skill["signature"]), message)
