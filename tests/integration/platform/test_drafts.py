"""Drafts from bundles: the three upload forms, hostile archives, ownership, replacing a draft."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from typing import Any

import pytest

from tests.support.harness import assert_problem
from tests.support.platform_bundles import FORMS, agent_files, as_json, slug, upload


def _errors(resp: Any) -> list[dict[str, Any]]:
    body = assert_problem(resp, 422)
    assert body["type"].endswith("/bundle-invalid")
    return body["errors"]


@pytest.mark.parametrize("form", sorted(FORMS))
def test_upload_each_form_makes_a_draft(client: Any, creator: Any, form: str) -> None:
    s = slug()
    files = agent_files(s, extra={"workspace/logo.png": b"\x89PNG\r\n\x1a\n\x00\x01binary"})
    resp = upload(client, creator, files, form=form)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    draft = resp.get_json()
    assert draft["slug"] == s and draft["status"] == "draft"
    assert (draft["pricing_model"], draft["credits_price"], draft["relays"]) == ("per_task", 2, ["telegram"])
    assert draft["description"].startswith(f"# {s}")
    v = draft["version"]
    assert (v["version"], v["status"], v["findings"]) == ("1.0.0", "draft", [])
    assert sorted(f["path"] for f in v["files"]) == sorted(files)
    png = next(f for f in v["files"] if f["path"] == "workspace/logo.png")
    assert png["size"] == len(files["workspace/logo.png"])
    assert v["skills"] == [{"name": "summarise", "description": "A test skill",
                            "permissions": {"network": ["api.openagents.dev"]}}]
    assert client.get(f"/api/platform/agents/{s}", token=creator.token).get_json() == draft


@pytest.mark.parametrize("form", ["zip", "tar.gz"])
def test_archive_of_a_folder_is_read_from_inside_it(client: Any, creator: Any, form: str) -> None:
    s = slug()
    body, ctype = FORMS[form](agent_files(s), top=f"{s}/")  # type: ignore[operator]
    resp = client.post("/api/platform/agents", token=creator.token, data=body, headers={"Content-Type": ctype})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["slug"] == s


def _zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in entries:
            z.writestr(info, data)
    return buf.getvalue()


def _tar(entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for info, data in entries:
            info.size = len(data) if info.isreg() else 0
            t.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def _symlink_zip_entry(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (0o120777 << 16)
    return info, target.encode()


def _tar_entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def _base_zip_entries(s: str) -> list[tuple[zipfile.ZipInfo | str, bytes]]:
    return [(p, d.encode() if isinstance(d, str) else d) for p, d in agent_files(s).items()]


def _base_tar_entries(s: str) -> list[tuple[tarfile.TarInfo, bytes]]:
    return [(tarfile.TarInfo(p), d.encode() if isinstance(d, str) else d) for p, d in agent_files(s).items()]


HOSTILE: dict[str, Any] = {
    "zip ../ path": lambda s: ("application/zip", _zip([*_base_zip_entries(s), ("../evil.sh", b"echo pwned")])),
    "zip absolute path": lambda s: ("application/zip", _zip([*_base_zip_entries(s), ("/etc/cron.d/x", b"* * * * *")])),
    "zip symlink": lambda s: ("application/zip", _zip([*_base_zip_entries(s),
                                                       _symlink_zip_entry("workspace/passwd", "/etc/passwd")])),
    "zip bomb": lambda s: ("application/zip", _zip([*_base_zip_entries(s), ("workspace/zeros.txt", b"\0" * (40 << 20))])),
    "zip too many files": lambda s: ("application/zip", _zip([*_base_zip_entries(s),
                                                              *[(f"workspace/f{i}.txt", b"x") for i in range(600)]])),
    "tar ../ path": lambda s: ("application/gzip", _tar([*_base_tar_entries(s), (_tar_entry("workspace/../../x"), b"x")])),
    "tar symlink": lambda s: ("application/gzip", _tar([*_base_tar_entries(s),
                                                        (_tar_entry("workspace/k", tarfile.SYMTYPE, "/root/.ssh/id_rsa"), b"")])),
    "tar hard link": lambda s: ("application/gzip", _tar([*_base_tar_entries(s),
                                                          (_tar_entry("workspace/h", tarfile.LNKTYPE, "openagents.yaml"), b"")])),
    "tar device": lambda s: ("application/gzip", _tar([*_base_tar_entries(s), (_tar_entry("workspace/d", tarfile.CHRTYPE), b"")])),
    "tar bomb": lambda s: ("application/gzip", _tar([*_base_tar_entries(s), (tarfile.TarInfo("workspace/z"), b"\0" * (40 << 20))])),
    "json ../ path": lambda s: ("application/json", as_json({**agent_files(s), "workspace/../../etc/x": "x"})[0]),
    "json hidden file": lambda s: ("application/json", as_json({**agent_files(s), "workspace/.env": "A=1"})[0]),
    "json outside the layout": lambda s: ("application/json", as_json({**agent_files(s), "bin/tool": "x"})[0]),
    "json skill under workspace": lambda s: ("application/json",
                                             as_json({**agent_files(s), "workspace/skills/x/SKILL.md": "x"})[0]),
    "json bad base64": lambda s: ("application/json", json.dumps(
        {"bundle": {"files": {**agent_files(s), "workspace/a.bin": {"base64": "!!!"}}}}).encode()),
    "json file too large": lambda s: ("application/json", as_json({**agent_files(s), "workspace/big.txt": "a" * (1 << 20 | 1)})[0]),
    "json control character in a path": lambda s: ("application/json",
                                                   as_json({**agent_files(s), "workspace/a\x00b.md": "x"})[0]),
    "json unpaired surrogate in a path": lambda s: ("application/json",
                                                    as_json({**agent_files(s), "workspace/\ud800.md": "x"})[0]),
    "gzip that is not a tar": lambda s: ("application/gzip", __import__("gzip").compress(b"hello " * 100)),
    "zip that is not a zip": lambda s: ("application/zip", b"PK not really"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_uploads_are_refused_with_the_file_named(client: Any, creator: Any, case: str) -> None:
    s = slug()
    ctype, body = HOSTILE[case](s)
    resp = client.post("/api/platform/agents", token=creator.token, data=body, headers={"Content-Type": ctype})
    errors = _errors(resp)
    assert errors and all(set(e) == {"file", "line", "field", "message"} for e in errors)
    assert client.get(f"/api/platform/agents/{s}", token=creator.token).status_code == 404  # nothing was made


def test_oversize_body_and_unsupported_types(client: Any, creator: Any) -> None:
    huge = b"PK" + b"\0" * (13 << 20)
    assert_problem(client.post("/api/platform/agents", token=creator.token, data=huge,
                               headers={"Content-Type": "application/zip"}), 413)
    body, _ = as_json(agent_files(slug()))
    for ctype in ("multipart/form-data; boundary=x", "text/plain", "application/x-www-form-urlencoded"):
        assert_problem(client.post("/api/platform/agents", token=creator.token, data=body,
                                   headers={"Content-Type": ctype}), 415)
    for bad in (b'{"bundle": ', b'{"bundle": ' + b"[" * 100000 + b"]" * 100000 + b"}"):
        assert_problem(client.post("/api/platform/agents", token=creator.token, data=bad,
                                   headers={"Content-Type": "application/json"}), 400)
    assert_problem(client.post("/api/platform/agents", data=body, headers={"Content-Type": "application/json"}), 401)


def test_only_creators_upload(client: Any, user: Any) -> None:
    assert_problem(upload(client, user, agent_files(slug())), 403)


def test_slugs_are_owned(client: Any, make_user: Any) -> None:
    ada, bob = make_user("creator"), make_user("creator")
    s = slug()
    assert upload(client, ada, agent_files(s)).status_code == 201
    taken = assert_problem(upload(client, bob, agent_files(s)), 409)
    assert taken["type"].endswith("/slug-taken")
    mine = assert_problem(upload(client, ada, agent_files(s)), 409)
    assert mine["type"].endswith("/agent-exists")
    # another user's draft does not exist for them, by any route
    for resp in (client.get(f"/api/platform/agents/{s}", token=bob.token),
                 upload(client, bob, agent_files(s), method="PUT", path=f"/api/platform/agents/{s}"),
                 client.post(f"/api/platform/agents/{s}/submit", token=bob.token),
                 client.post(f"/api/platform/agents/{s}/appeal", token=bob.token, json_body={"message": "please"})):
        assert_problem(resp, 404)
    assert s not in [a["slug"] for a in client.get("/api/platform/agents", token=bob.token).get_json()["items"]]
    assert_problem(client.get(f"/api/agents/{s}", token=bob.token), 404)  # a draft is not in the marketplace


def test_list_my_agents_pages(client: Any, creator: Any) -> None:
    made = [slug() for _ in range(3)]
    for s in made:
        assert upload(client, creator, agent_files(s)).status_code == 201
    seen: list[str] = []
    cursor = None
    while True:
        page = client.get("/api/platform/agents", token=creator.token,
                          query={"limit": 2, **({"cursor": cursor} if cursor else {})}).get_json()
        assert set(page) == {"items", "next_cursor"}
        seen += [a["slug"] for a in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(made))
    assert all(a["status"] == "draft" and a["version_status"] == "draft" for a in
               client.get("/api/platform/agents", token=creator.token).get_json()["items"])


def test_put_replaces_the_draft(client: Any, creator: Any) -> None:
    s = slug()
    first = upload(client, creator, agent_files(s)).get_json()
    files = agent_files(s, tagline="Now sharper", version="1.1.0", extra={"workspace/NOTES.md": "new\n"})
    resp = upload(client, creator, files, form="zip", method="PUT", path=f"/api/platform/agents/{s}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    draft = resp.get_json()
    assert draft["tagline"] == "Now sharper" and draft["version"]["version"] == "1.1.0"
    assert draft["version"]["id"] == first["version"]["id"]  # the same working version, new bundle
    assert "workspace/NOTES.md" in [f["path"] for f in draft["version"]["files"]]
    moved = upload(client, creator, agent_files(slug()), method="PUT", path=f"/api/platform/agents/{s}")
    assert [(e["file"], e["field"], e["line"]) for e in _errors(moved)] == [("openagents.yaml", "slug", 1)]
