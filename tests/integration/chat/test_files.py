"""Instance files through the bridge: list, read, write; escapes and skills refused; tenants isolated."""

from __future__ import annotations


def test_files_round_trip_and_refusals(chat_stack, hire_running, make_user, user):
    instance = hire_running(user)
    other = make_user()
    base = f"/api/instances/{instance}/files"
    with chat_stack.http() as http:
        put = http.put(f"{base}/notes/todo.md", content=b"# todo\n- ship it\n", headers=user.headers)
        assert put.status_code == 200, put.text
        etag = put.headers.get("etag")
        listed = http.get(base, headers=user.headers).json()
        assert "notes/todo.md" in {f["path"] for f in listed["items"]} and listed["next_cursor"] is None
        got = http.get(f"{base}/notes/todo.md", headers=user.headers)
        assert got.status_code == 200 and got.content == b"# todo\n- ship it\n"
        if etag:  # a stale If-Match loses
            http.put(f"{base}/notes/todo.md", content=b"v2", headers=user.headers)
            stale = http.put(f"{base}/notes/todo.md", content=b"v3", headers={**user.headers, "If-Match": etag})
            assert stale.status_code == 412
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
