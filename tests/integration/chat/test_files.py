"""Instance files through the bridge: list, read, write; escapes and skills refused; tenants isolated."""

from __future__ import annotations

import hashlib

from shared.bridge import protocol


def test_files_round_trip_and_refusals(chat_stack, hire_running, make_user, user):
    instance = hire_running(user)
    other = make_user()
    base = f"/api/instances/{instance}/files"
    with chat_stack.http() as http:
        put = http.put(f"{base}/notes/todo.md", content=b"# todo\n- ship it\n", headers=user.headers)
        assert put.status_code == 200, put.text
        listed = http.get(base, headers=user.headers).json()
        assert "notes/todo.md" in {f["path"] for f in listed["items"]} and listed["next_cursor"] is None
        got = http.get(f"{base}/notes/todo.md", headers=user.headers)
        assert got.status_code == 200 and got.content == b"# todo\n- ship it\n"
        assert got.headers["etag"] == put.headers["etag"] == f'"{put.json()["sha256"]}"'
        for bad in ("..%2F..%2Fetc%2Fpasswd", "notes%2F..%2F..%2Fx", ".hidden", "a%5Cb", "%2Fetc%2Fpasswd"):
            resp = http.get(f"{base}/{bad}", headers=user.headers)
            assert 400 <= resp.status_code < 500, (bad, resp.status_code)
            assert resp.headers["content-type"].startswith("application/problem+json")
            assert b"root:" not in resp.content
        skill = http.put(f"{base}/skills/evil/SKILL.md", content=b"---\nname: evil\n---\n", headers=user.headers)
        assert skill.status_code == 403
        big = http.put(f"{base}/big.bin", content=b"x" * ((1 << 20) + 1), headers=user.headers)
        assert big.status_code == 413
        for method, path in (("GET", base), ("GET", f"{base}/notes/todo.md"), ("PUT", f"{base}/notes/todo.md")):
            resp = http.request(method, path, content=b"hijack" if method == "PUT" else None, headers=other.headers)
            assert resp.status_code == 404 and b"ship it" not in resp.content
        assert http.get(f"{base}/notes/todo.md", headers=user.headers).content != b"hijack"


def test_an_edit_based_on_a_stale_read_loses(chat_stack, hire_running, user):
    """The lost-update check: a write carries the ETag of the read it started from; the bridge answers
    the written file's metadata (the same a read and the listing show) and refuses a stale ETag."""
    instance = hire_running(user)
    url = f"/api/instances/{instance}/files/notes/plan.md"
    with chat_stack.http() as http:
        assert http.put(url, content=b"v1", headers=user.headers).status_code == 200
        read = http.get(url, headers=user.headers)
        etag = read.headers["etag"]
        assert read.content == b"v1" and etag == f'"{hashlib.sha256(b"v1").hexdigest()}"'

        edited = http.put(url, content=b"v2", headers={**user.headers, "If-Match": etag})
        assert edited.status_code == 200, edited.text
        new_etag = edited.headers["etag"]
        assert new_etag != etag and new_etag == f'"{hashlib.sha256(b"v2").hexdigest()}"'
        meta = edited.json()
        assert meta["path"] == "notes/plan.md" and meta["size"] == 2 and meta["origin"] == "user"
        assert meta["editable"] is True and meta["modified_at"]

        after = http.get(url, headers=user.headers)
        assert after.content == b"v2" and after.headers["etag"] == new_etag
        assert protocol.file_meta_from_headers("notes/plan.md", after.headers) == meta
        listed = http.get(f"/api/instances/{instance}/files", headers=user.headers).json()["items"]
        assert [i for i in listed if i["path"] == "notes/plan.md"] == [meta]

        stale = http.put(url, content=b"v3", headers={**user.headers, "If-Match": etag})
        assert stale.status_code == 412 and stale.headers["content-type"].startswith("application/problem+json")
        assert http.get(url, headers=user.headers).content == b"v2"
