"""Submit → published: skills signed per §5c, checkable by anyone with the served keys; tampering and
widened permissions fail on the machine; rotation keeps retired keys verifying."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature

from fly.agent.bridge.skills import check_skill
from shared.config import overridden
from shared.skills.signatures import load_public_keys, verify_skill
from tests.support.harness import RECORDER, assert_problem
from tests.support.platform_bundles import (
    agent_files,
    machine_keys_json,
    public_keys_from,
    skill_md,
    slug,
    upload,
    verify_like_a_client,
)

SKILLS = {
    "summarise": {"SKILL.md": skill_md("summarise", {"network": ["api.openagents.dev"]},
                                       "Summarise with https://api.openagents.dev/v1/summary.\n"),
                  "prompts/style.txt": "Short sentences.\n"},
    "calendar": {"SKILL.md": skill_md("calendar", {"exec": ["gcal"], "filesystem": ["~/calendar"]},
                                      "```bash\ngcal list --from ~/calendar/today.ics\n```\n")},
}


def _skill_bytes(files: dict[str, str | bytes], name: str) -> dict[str, bytes]:
    prefix = f"skills/{name}/"
    return {p[len(prefix):]: (d.encode() if isinstance(d, str) else d) for p, d in files.items() if p.startswith(prefix)}


def _publish(client: Any, creator: Any, files: dict[str, str | bytes]) -> dict[str, Any]:
    s = files["openagents.yaml"].split("\n", 1)[0].split(": ", 1)[1]  # type: ignore[union-attr]
    assert upload(client, creator, files).status_code == 201
    resp = client.post(f"/api/platform/agents/{s}/submit", token=creator.token)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    result = resp.get_json()
    assert result["status"] == "published", result
    return result


def _stored_bundle(db: Any, version_id: str) -> dict[str, Any]:
    with db.service() as tx:
        return tx.sql("select bundle from agent_versions where id = %(v)s", {"v": version_id}).fetchone()["bundle"]


def test_clean_bundle_publishes_with_signatures_anyone_can_check(client: Any, db: Any, creator: Any,
                                                                  signing_key: str) -> None:
    s = slug()
    files = agent_files(s, skills=SKILLS, name="Signed Helper Zebra")
    result = _publish(client, creator, files)
    assert [f for f in result["findings"] if f["severity"] != "info"] == []

    keys = client.get("/api/platform/signing-keys")  # public: no token
    assert keys.status_code == 200
    served = keys.get_json()
    assert set(served) == {"items"}
    active = [k for k in served["items"] if k["status"] == "active"]
    assert len(active) == 1 and len(base64.urlsafe_b64decode(active[0]["public_key"] + "==")) == 32
    assert active[0]["key_id"] == signing_key.split(":", 1)[0]

    page = client.get(f"/api/agents/{s}").get_json()  # anon sees the listing and its version
    current = page["current_version"]
    assert current["id"] == result["version_id"]
    assert (current["version"], current["changelog"]) == ("1.0.0", "First.") and current["published_at"]
    assert [sk["name"] for sk in current["skills"]] == ["calendar", "summarise"]
    keys_by_id = public_keys_from(served)
    for skill in current["skills"]:
        assert set(skill) == {"name", "description", "permissions", "content_hash", "permissions_hash", "signature",
                              "key_id"}
        assert skill["key_id"] == active[0]["key_id"]
        verify_like_a_client(skill, _skill_bytes(files, skill["name"]), keys_by_id)
    assert current["skills"][0]["permissions"] == {"exec": ["gcal"], "filesystem": ["~/calendar"]}

    stored = _stored_bundle(db, result["version_id"])  # what machines are sent
    assert set(stored) == {"files", "signatures"}
    assert {p: base64.b64decode(v) for p, v in stored["files"].items()} == \
        {p: (d.encode() if isinstance(d, str) else d) for p, d in files.items()}
    for skill in current["skills"]:
        assert stored["signatures"][skill["name"]] == {k: skill[k] for k in
                                                       ("key_id", "signature", "content_hash", "permissions_hash")}

    draft = client.get(f"/api/platform/agents/{s}", token=creator.token).get_json()
    assert draft["status"] == "published" and draft["current_version_id"] == result["version_id"]
    assert draft["version"]["status"] == "published"
    hits = client.get("/api/agents", query={"q": "Signed Helper Zebra"}).get_json()["items"]
    assert hits and hits[0]["slug"] == s
    assert_problem(upload(client, creator, files, method="PUT", path=f"/api/platform/agents/{s}"), 409)
    assert_problem(client.post(f"/api/platform/agents/{s}/submit", token=creator.token), 409)


def test_tampered_or_widened_skills_fail_on_the_machine(client: Any, db: Any, creator: Any, signing_key: str) -> None:
    files = agent_files(slug(), skills=SKILLS)
    result = _publish(client, creator, files)
    machine_keys = load_public_keys(machine_keys_json(client.get("/api/platform/signing-keys").get_json()))
    stored = _stored_bundle(db, result["version_id"])
    signature = stored["signatures"]["summarise"]
    original = _skill_bytes(files, "summarise")
    assert check_skill("summarise", original, signature, machine_keys).ok

    tampered = dict(original)
    style = bytearray(tampered["prompts/style.txt"])
    style[0] ^= 0x01  # one byte
    tampered["prompts/style.txt"] = bytes(style)
    check = check_skill("summarise", tampered, signature, machine_keys)
    assert (check.ok, check.reason) == (False, "content_mismatch")

    widened = dict(original)
    widened["SKILL.md"] = skill_md("summarise", {"network": ["api.openagents.dev", "*"]},
                                   "Summarise with https://api.openagents.dev/v1/summary.\n").encode()
    assert not check_skill("summarise", widened, signature, machine_keys).ok
    from shared.skills.signatures import SignatureError

    with pytest.raises(SignatureError) as exc:  # same files, wider permissions than were signed
        verify_skill(original, {"network": ["api.openagents.dev", "*"]}, signature, machine_keys)
    assert exc.value.reason == "permissions_mismatch"
    bare = {"key_id": signature["key_id"], "signature": signature["signature"]}  # no hashes to compare: the signature fails
    with pytest.raises(SignatureError) as exc:
        verify_skill(original, {"network": ["*"]}, bare, machine_keys)
    assert exc.value.reason == "bad_signature"


def test_rotation_retired_key_still_verifies(client: Any, db: Any, creator: Any, signing_key: str) -> None:
    from shared.platform import signing

    old_files = agent_files(slug(), skills=SKILLS)
    old = _publish(client, creator, old_files)
    with db.service() as tx:
        new_signer, new_key = signing.rotate(tx)
    RECORDER.secret(new_key)
    with overridden({"SKILL_SIGNING_KEY": new_key}):
        new_files = agent_files(slug(), skills=SKILLS)
        new = _publish(client, creator, new_files)
    served = client.get("/api/platform/signing-keys").get_json()
    status = {k["key_id"]: k["status"] for k in served["items"]}
    old_id = signing_key.split(":", 1)[0]
    assert status[old_id] == "retired" and status[new_signer.key_id] == "active"
    assert [k["key_id"] for k in served["items"] if k["status"] == "active"] == [new_signer.key_id]

    keys_by_id = public_keys_from(served)
    machine_keys = load_public_keys(machine_keys_json(served))
    for result, files, key_id in ((old, old_files, old_id), (new, new_files, new_signer.key_id)):
        stored = _stored_bundle(db, result["version_id"])
        for name in SKILLS:
            sig = stored["signatures"][name]
            assert sig["key_id"] == key_id
            skill_files = _skill_bytes(files, name)
            assert check_skill(name, skill_files, sig, machine_keys).ok
            verify_like_a_client({**sig, "permissions": _permissions(files, name)}, skill_files, keys_by_id)
    # and a signature claimed for the other key does not verify
    stored = _stored_bundle(db, old["version_id"])
    forged = {**stored["signatures"]["summarise"], "key_id": new_signer.key_id}
    with pytest.raises(InvalidSignature):
        verify_like_a_client({**forged, "permissions": _permissions(old_files, "summarise")},
                             _skill_bytes(old_files, "summarise"), keys_by_id)
    # the retired key never signs again
    with overridden({"SKILL_SIGNING_KEY": signing_key}):
        s = slug()
        assert upload(client, creator, agent_files(s)).status_code == 201
        body = assert_problem(client.post(f"/api/platform/agents/{s}/submit", token=creator.token), 503)
        assert body["type"].endswith("/signing-not-configured")


def _permissions(files: dict[str, str | bytes], name: str) -> Any:
    import yaml

    text = files[f"skills/{name}/SKILL.md"]
    assert isinstance(text, str)
    return yaml.safe_load(text.split("---")[1])["permissions"]


def test_submit_without_a_signing_key_changes_nothing(client: Any, creator: Any) -> None:
    s = slug()
    assert upload(client, creator, agent_files(s)).status_code == 201
    body = assert_problem(client.post(f"/api/platform/agents/{s}/submit", token=creator.token), 503)
    assert body["type"].endswith("/signing-not-configured")
    draft = client.get(f"/api/platform/agents/{s}", token=creator.token).get_json()
    assert draft["status"] == "draft" and draft["version"]["status"] == "draft"
    assert client.get("/api/platform/signing-keys").status_code == 200  # listing keys needs no private key
