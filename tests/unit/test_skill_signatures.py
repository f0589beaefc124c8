"""Skill signatures, ARCHITECTURE §5c (*fixed* format): known answers, sign/verify, every way to fail."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.skills.frontmatter import FrontMatterError, parse_front_matter, skill_manifest
from shared.skills.signatures import (
    SignatureError,
    SkillSignature,
    b64url_decode,
    canonical_json,
    content_hash,
    load_public_keys,
    permissions_hash,
    public_key_b64,
    sign_skill,
    signing_message,
    verify_skill,
)

FILES = {"SKILL.md": b"---\nname: demo\n---\n", "scripts/run.sh": b"echo hi\n", "README.md": b""}
PERMS = {"tools": ["web_fetch"], "network": ["api.example.com"], "note": "café"}
SEED = bytes(range(32))


def test_content_hash_known_answer() -> None:
    # By hand: sorted by path (code point order: uppercase before "scripts/…"), `<path>\0<sha256 hex>\n` each.
    manual = hashlib.sha256(
        b"README.md\0" + hashlib.sha256(b"").hexdigest().encode() + b"\n"
        + b"SKILL.md\0" + hashlib.sha256(FILES["SKILL.md"]).hexdigest().encode() + b"\n"
        + b"scripts/run.sh\0" + hashlib.sha256(b"echo hi\n").hexdigest().encode() + b"\n"
    ).hexdigest()
    assert content_hash(FILES) == manual == "d297fe0b3585d5fdd059da8386d6463be2bcf7173baa3893b0311f351d4bd9ae"
    assert content_hash(dict(reversed(list(FILES.items())))) == manual  # order of the mapping is irrelevant
    assert content_hash({}) == hashlib.sha256(b"").hexdigest()


def test_permissions_hash_known_answer() -> None:
    assert canonical_json(PERMS) == '{"network":["api.example.com"],"note":"café","tools":["web_fetch"]}'.encode()
    assert permissions_hash(PERMS) == "2b8d167b49e252b7259b7d363eddba882579bb462cd02ef7dccbffc79f8e7c1a"
    assert permissions_hash({"b": 1, "a": 2}) == permissions_hash({"a": 2, "b": 1})
    assert permissions_hash(["read"]) == hashlib.sha256(b'["read"]').hexdigest()


def test_signature_known_answer() -> None:
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    assert public_key_b64(key) == "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
    sig = sign_skill(FILES, PERMS, key, "k1")
    assert sig.signature == ("SePci_jI44W9YKblxWppANDHL48SSI5rSpYsHYliQTilU8hdTS_NNUM-KBdf0wt-"
                             "ivNX3q9dahWa9wZdqL7FAw")
    assert "=" not in sig.signature and len(b64url_decode(sig.signature)) == 64
    assert signing_message(sig.content_hash, sig.permissions_hash) == (
        f"openagents-skill-v1\n{content_hash(FILES)}\n{permissions_hash(PERMS)}".encode())
    key.public_key().verify(b64url_decode(sig.signature), signing_message(sig.content_hash, sig.permissions_hash))


@pytest.fixture
def keys() -> dict[str, Ed25519PrivateKey]:
    return {"k-new": Ed25519PrivateKey.generate(), "k-old": Ed25519PrivateKey.generate()}


@pytest.fixture
def keyset(keys: dict[str, Ed25519PrivateKey]) -> dict:
    return load_public_keys(json.dumps({kid: public_key_b64(k) for kid, k in keys.items()}))


def test_sign_then_verify(keys: dict, keyset: dict) -> None:
    sig = sign_skill(FILES, PERMS, keys["k-new"], "k-new")
    verified = verify_skill(FILES, PERMS, sig, keyset)
    assert verified == sig
    assert verify_skill(FILES, PERMS, sig.to_dict(), keyset) == sig
    # Hashes in the record are optional: the signature alone is enough.
    assert verify_skill(FILES, PERMS, {"key_id": "k-new", "signature": sig.signature}, keyset).content_hash == sig.content_hash


def test_retired_key_still_verifies(keys: dict, keyset: dict) -> None:
    old = sign_skill(FILES, PERMS, keys["k-old"], "k-old")
    assert verify_skill(FILES, PERMS, old, keyset).key_id == "k-old"


def _reason(files: dict, perms: object, sig: object, keyset: dict) -> str:
    with pytest.raises(SignatureError) as exc:
        verify_skill(files, perms, sig, keyset)
    return exc.value.reason


def test_tampered_content_fails(keys: dict, keyset: dict) -> None:
    sig = sign_skill(FILES, PERMS, keys["k-new"], "k-new")
    for files in ({**FILES, "scripts/run.sh": b"rm -rf /\n"}, {**FILES, "extra.txt": b"x"},
                  {k: v for k, v in FILES.items() if k != "README.md"}, {"skill.md" if k == "SKILL.md" else k: v
                                                                         for k, v in FILES.items()}):
        assert _reason(files, PERMS, sig, keyset) == "content_mismatch"
        assert _reason(files, PERMS, {"key_id": "k-new", "signature": sig.signature}, keyset) == "bad_signature"


def test_tampered_permissions_fail(keys: dict, keyset: dict) -> None:
    sig = sign_skill(FILES, PERMS, keys["k-new"], "k-new")
    wider = {**PERMS, "tools": ["web_fetch", "exec"]}
    assert _reason(FILES, wider, sig, keyset) == "permissions_mismatch"
    assert _reason(FILES, wider, {"key_id": "k-new", "signature": sig.signature}, keyset) == "bad_signature"


def test_unknown_key_wrong_key_unsigned_and_garbage(keys: dict, keyset: dict) -> None:
    stranger = Ed25519PrivateKey.generate()
    assert _reason(FILES, PERMS, sign_skill(FILES, PERMS, stranger, "k-stranger"), keyset) == "unknown_key"
    assert _reason(FILES, PERMS, sign_skill(FILES, PERMS, stranger, "k-new"), keyset) == "bad_signature"
    assert _reason(FILES, PERMS, None, keyset) == "unsigned"
    assert _reason(FILES, PERMS, {"signature": "x"}, keyset) == "malformed"
    assert _reason(FILES, PERMS, {"key_id": "k-new", "signature": "not*base64"}, keyset) == "bad_signature"
    assert _reason(FILES, {"when": object()}, {"key_id": "k-new", "signature": "AA"}, keyset) == "malformed"
    sig = sign_skill(FILES, PERMS, keys["k-new"], "k-new")
    assert _reason(FILES, PERMS, SkillSignature("k-new", sig.signature[:-4] + "AAAA", "", ""), keyset) == "bad_signature"


@pytest.mark.parametrize("path", ["/abs", "../up", "a/../b", "a//b", "a\\b", "", "./a", "a/"])
def test_bad_paths_are_malformed(path: str) -> None:
    with pytest.raises(SignatureError) as exc:
        content_hash({path: b"x"})
    assert exc.value.reason == "malformed"


def test_load_public_keys_validates() -> None:
    assert load_public_keys(None) == {} and load_public_keys("") == {}
    with pytest.raises(ValueError):
        load_public_keys(json.dumps({"k": "AAAA"}))  # not 32 bytes
    with pytest.raises(ValueError):
        load_public_keys("[1]")


def test_front_matter() -> None:
    text = "---\nname: demo\ndescription: A demo\npermissions:\n  network: [a.example]\n---\n# Body\n"
    assert skill_manifest(text) == {"name": "demo", "description": "A demo", "permissions": {"network": ["a.example"]}}
    assert parse_front_matter("\ufeff---\nname: x\n---\n") == {"name": "x"}
    for bad in ("# no front matter", "---\nname: x\n", "---\n- a list\n---\n", "---\nname: [unclosed\n---\n",
                b"---\n\xff\n---\n"):
        with pytest.raises(FrontMatterError):
            parse_front_matter(bad)
    with pytest.raises(FrontMatterError, match="permissions"):
        skill_manifest("---\nname: x\ndescription: y\n---\n")


def test_skills_package_imports_nothing_from_the_project() -> None:
    """The machine image copies shared/skills on its own (fly/agent/Dockerfile)."""
    allowed = {"__future__", "base64", "hashlib", "json", "collections", "dataclasses", "typing", "cryptography", "yaml"}
    package = Path(__file__).resolve().parents[2] / "shared" / "skills"
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        if path.name == "__init__.py":
            assert not [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))], path
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]} if not node.level else {"<relative>"}
            else:
                continue
            assert roots <= allowed, (path.name, roots)
