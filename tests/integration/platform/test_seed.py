"""The seed goes through the creator pipeline: after `openagents db seed` every demo agent is a published
bundle whose signed skills verify with the served keys; re-running keeps everything; a listing the old
SQL-only seed made gets its version; and a hired demo agent's machine (the real bridge on the Fly
emulator) holds its workspace files and verified skills, through a restart too."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.config import overridden
from shared.platform.seed_agents import AGENTS, DRAFT
from tests.support.harness import RECORDER
from tests.support.platform_bundles import public_keys_from, verify_like_a_client

ROOT = Path(__file__).resolve().parents[3]
WORKSPACE = ("workspace/SOUL.md", "workspace/AGENTS.md", "workspace/IDENTITY.md")


def _cli_seed(url: str, signing_key: str | None = None) -> str:
    env = {**os.environ, "DATABASE_URL": url, "OPENAGENTS_ENV": "test", "LOG_LEVEL": "WARNING"}
    if signing_key:
        env["SKILL_SIGNING_KEY"] = signing_key
    r = subprocess.run([sys.executable, "-m", "cli.main", "db", "seed"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _versions(db: Any) -> dict[str, str]:
    with db.service() as tx:
        rows = tx.sql("select slug, current_version_id from agents where slug = any(%(s)s)",
                      {"s": [a.slug for a in AGENTS]}).fetchall()
    return {r["slug"]: str(r["current_version_id"]) for r in rows}


def _bundle_files(db: Any, version_id: str) -> dict[str, bytes]:
    with db.service() as tx:
        bundle = tx.sql("select bundle from agent_versions where id = %(v)s", {"v": version_id}).fetchone()["bundle"]
    return {p: base64.b64decode(b) for p, b in bundle["files"].items()}


def _skill_files(files: dict[str, bytes], name: str) -> dict[str, bytes]:
    prefix = f"skills/{name}/"
    return {p[len(prefix):]: b for p, b in files.items() if p.startswith(prefix)}


def test_every_demo_agent_is_a_published_bundle_with_verifiable_skills(client: Any, db: Any, seeded: None,
                                                                       database: Any) -> None:
    served = client.get("/api/platform/signing-keys").get_json()
    keys = public_keys_from(served)
    for agent in AGENTS:
        page = client.get(f"/api/agents/{agent.slug}").get_json()
        assert page["name"] == agent.name and page["description"].startswith(f"# {agent.name}\n")
        current = page["current_version"]
        assert current is not None and current["version"] == "1.0.0", agent.slug
        files = _bundle_files(db, current["id"])
        assert {"openagents.yaml", "agent.yaml", "README.md", *WORKSPACE} <= set(files), agent.slug
        assert [s["name"] for s in current["skills"]] == sorted(s.name for s in agent.skills)
        for skill in current["skills"]:
            assert skill["signature"] and skill["key_id"] in keys
            assert set(skill["permissions"]) <= {"network", "exec", "filesystem"}
            verify_like_a_client(skill, _skill_files(files, skill["name"]), keys)
    with db.service() as tx:
        draft = tx.sql("select a.status::text as status, a.current_version_id, count(v.id) as versions"
                       " from agents a left join agent_versions v on v.agent_id = a.id where a.slug = %(s)s"
                       " group by a.id", {"s": DRAFT.slug}).fetchone()
    assert draft["status"] == "draft" and draft["current_version_id"] is None
    assert client.get(f"/api/agents/{DRAFT.slug}").status_code == 404
    featured = next(c for c in client.get("/api/collections").get_json()["items"] if c["slug"] == "featured")
    assert {a["slug"] for a in featured["agents"]} == {"inbox-zero", "code-reviewer", "helpdesk-hero", "travel-buddy"}

    # `openagents db seed` again: the same agents and versions (no new signing key needed).
    before = _versions(db)
    _cli_seed(database.url)
    assert _versions(db) == before


def test_a_fresh_database_is_seeded_through_the_pipeline_and_keeps_its_agents(database: Any) -> None:
    from shared.data import Database, migrate
    from shared.platform.signing import new_private_key

    name = f"oa_seed_{uuid.uuid4().hex[:8]}"
    migrate.create_database(database.admin_url, name)
    url = database.admin_url.rsplit("/", 1)[0] + f"/{name}"
    key = new_private_key()
    RECORDER.secret(key)
    fresh = Database(url, max_size=2)
    try:
        migrate.migrate(url, log=lambda *_: None)
        out = _cli_seed(url, key)
        assert "20 agents published" in out and "1 drafts" in out, out
        with fresh.service() as tx:
            rows = tx.sql("select a.slug, a.status::text as status, a.hires_count, v.version, v.status::text as vs,"
                          " (select array_agg(distinct g.key_id) from agent_skills s join skill_signatures g"
                          "  on g.skill_id = s.id where s.version_id = v.id) as key_ids"
                          " from agents a left join agent_versions v on v.id = a.current_version_id").fetchall()
            served = {"items": tx.sql("select key_id, public_key from signing_keys").fetchall()}
        by_slug = {r["slug"]: r for r in rows}
        assert set(by_slug) == {a.slug for a in (*AGENTS, DRAFT)}
        for agent in AGENTS:
            row = by_slug[agent.slug]
            assert (row["status"], row["version"], row["vs"]) == ("published", "1.0.0", "published"), agent.slug
            assert row["key_ids"] == [key.split(":", 1)[0]] and row["hires_count"] == agent.hires
        assert set(public_keys_from(served)) == {key.split(":", 1)[0]}

        # A listing the SQL-only seed made (published, no version) gets its bundle; the rest is kept.
        with fresh.service() as tx:
            tx.sql("delete from agent_versions where agent_id = (select id from agents where slug = 'sql-helper')")
            kept = str(tx.sql("select current_version_id from agents where slug = 'inbox-zero'").fetchone()[
                "current_version_id"])
        migrate.seed(url, log=lambda *_: None, signing_key=key)
        with fresh.service() as tx:
            again = tx.sql("select slug, current_version_id, status::text as status from agents"
                           " where slug in ('sql-helper', 'inbox-zero')").fetchall()
            count = tx.sql("select count(*) as n from agents").fetchone()["n"]
        states = {r["slug"]: r for r in again}
        assert states["sql-helper"]["status"] == "published" and states["sql-helper"]["current_version_id"]
        assert str(states["inbox-zero"]["current_version_id"]) == kept and count == len(AGENTS) + 1
    finally:
        fresh.close()
        import psycopg

        with psycopg.connect(database.admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


# --- a hired demo agent on the emulator, with the real bridge -------------------------------------------

@pytest.fixture(scope="module")
def seed_stack(database: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.integration.chat.conftest import start_chat_stack

    stack, stop = start_chat_stack(tmp_path_factory.mktemp("seed-stack"))
    try:
        with overridden(stack.env):
            yield stack
    finally:
        stop()


def test_a_hired_demo_agent_has_its_files_and_verified_skills(seed_stack: Any, db: Any, seeded: None,
                                                              make_user: Any) -> None:
    from tests.integration.chat.conftest import drain_lifecycle

    agent = next(a for a in AGENTS if a.slug == "daily-planner")
    user = make_user()
    with seed_stack.http() as http:
        hired = http.post("/api/instances", json={"agent": agent.slug}, headers=user.headers)
        assert hired.status_code == 202, hired.text
        iid = hired.json()["id"]
    drain_lifecycle(db)
    version = _versions(db)[agent.slug]
    files = _bundle_files(db, version)
    skill_paths = {f"skills/{s.name}/SKILL.md" for s in agent.skills}

    def listing() -> dict[str, Any]:
        with seed_stack.http() as http:
            resp = http.get(f"/api/instances/{iid}/files", headers=user.headers)
        assert resp.status_code == 200, resp.text
        return {f["path"]: f for f in resp.json()["items"]}

    with seed_stack.http() as http:
        assert http.get(f"/api/instances/{iid}", headers=user.headers).json()["version_id"] == version
    listed = listing()
    for path in WORKSPACE:
        rel = path.removeprefix("workspace/")
        assert listed[rel]["origin"] == "bundle", listed.get(rel)
        with seed_stack.http() as http:
            content = http.get(f"/api/instances/{iid}/files/{rel}", headers=user.headers).content
        # AGENTS.md also carries the platform's prompt-injection canary, planted on every push.
        assert content == files[path] if rel != "AGENTS.md" else content.startswith(files[path])
    for path in skill_paths:  # only a verified skill is installed; it is read-only
        assert listed[path]["origin"] == "skill" and listed[path]["editable"] is False

    # The bridge verifies the skills on disk again when it boots.
    with seed_stack.http() as http:
        assert http.post(f"/api/instances/{iid}/restart", headers=user.headers).status_code == 202
    drain_lifecycle(db)
    after = listing()
    assert skill_paths <= set(after) and all(after[p]["origin"] == "skill" for p in skill_paths)
