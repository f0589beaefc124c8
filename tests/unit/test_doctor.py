"""Dev defaults for every secret, and `openagents doctor` saying what is missing (ARCHITECTURE §6).

The CLI runs in a clean environment (no test canaries) with its own data folder and working
directory, as on a fresh clone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.config import LOCAL_DEFAULTS, PROJECT_ROOT, ensure_local_secrets, local_defaults, read_env_file
from shared.doctor import NEEDS
from shared.skill_signing import parse_signing_key
from shared.skills.signatures import load_public_keys, sign_skill, verify_skill
from shared.streaming.tokens import StreamTarget, sign, verify

SETTINGS_PROBE = ("from shared.config import get_settings as g; s = g(); import json; "
                  "print(json.dumps({n: (v.get_secret_value() if hasattr(v, 'get_secret_value') else v) "
                  "for n in ('CRON_SECRET', 'SKILL_SIGNING_KEY', 'SKILL_SIGNING_PUBLIC_KEYS') for v in [getattr(s, n)]}))")


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(PROJECT_ROOT),
               "OPENAGENTS_DATA_DIR": str(tmp_path / "data"), **env}
    return subprocess.run([sys.executable, *args], cwd=tmp_path, env=environ, capture_output=True, text=True,
                          timeout=120, check=False)


def _names() -> set[str]:
    return {n for group in LOCAL_DEFAULTS for n in group}


def test_doctor_in_dev_reports_nothing_missing_and_generates_once(tmp_path):
    first = _run(tmp_path, "-m", "cli.main", "doctor", OPENAGENTS_ENV="dev")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "ok: nothing missing" in first.stdout and "✗" not in first.stdout
    env_file = tmp_path / "data" / "local.env"
    generated = read_env_file(env_file)
    assert _names() <= set(generated) and all(generated[n] for n in _names())
    assert env_file.stat().st_mode & 0o777 == 0o600
    # every name a need lists is either generated in dev or stood in for by the dev stack
    assert all(need.dev or (any if need.one_of else all)(n in generated for n in need.names) for need in NEEDS)
    again = _run(tmp_path, "-m", "cli.main", "doctor")  # dev is the default mode
    assert again.returncode == 0 and read_env_file(env_file) == generated


def test_an_explicit_variable_wins_over_the_local_default(tmp_path):
    assert _run(tmp_path, "-m", "cli.main", "doctor").returncode == 0
    generated = read_env_file(tmp_path / "data" / "local.env")
    own_key = "mine:" + "A" * 43
    shown = _run(tmp_path, "-c", SETTINGS_PROBE, CRON_SECRET="explicit-cron", SKILL_SIGNING_KEY=own_key)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {"CRON_SECRET": "explicit-cron", "SKILL_SIGNING_KEY": own_key,
                                        # a key pair is one default: an explicit half never meets a generated one
                                        "SKILL_SIGNING_PUBLIC_KEYS": None}
    report = _run(tmp_path, "-m", "cli.main", "doctor", CRON_SECRET="explicit-cron")
    assert "CRON_SECRET (set)" in report.stdout and "SUPABASE_JWT_SECRET (local default)" in report.stdout
    assert read_env_file(tmp_path / "data" / "local.env") == generated  # the file keeps its own value
    (tmp_path / ".env").write_text("CRON_SECRET=from-dotenv\n")
    assert json.loads(_run(tmp_path, "-c", SETTINGS_PROBE).stdout)["CRON_SECRET"] == "from-dotenv"
    assert "CRON_SECRET" not in local_defaults({}, tmp_path / "data" / "local.env", tmp_path / ".env")


def test_doctor_in_production_lists_what_is_missing_in_plain_words(tmp_path):
    bare = _run(tmp_path, "-m", "cli.main", "doctor", OPENAGENTS_ENV="production")
    assert bare.returncode == 1
    assert "✗ Database: DATABASE_URL not set (needed) — without it the API and workers have no database" in bare.stdout
    assert "✗ Cron: CRON_SECRET not set (needed)" in bare.stdout
    assert "· Stripe: STRIPE_SECRET_KEY not set (optional) — without it billing answers 'not configured'" in bare.stdout
    assert not (tmp_path / "data" / "local.env").exists()  # production never generates secrets
    required = {n: "x" for need in NEEDS if need.level == "required" for n in need.names[:1 if need.one_of else None]}
    complete = _run(tmp_path, "-m", "cli.main", "doctor", OPENAGENTS_ENV="production", **required)
    assert complete.returncode == 0, complete.stdout
    assert "✗" not in complete.stdout and "optional feature(s) off" in complete.stdout


def test_generated_keys_are_real_key_pairs(tmp_path):
    values = ensure_local_secrets(tmp_path / "local.env")
    key = parse_signing_key(values["SKILL_SIGNING_KEY"])
    public = load_public_keys(values["SKILL_SIGNING_PUBLIC_KEYS"])
    assert list(public) == [key.key_id]
    files = {"SKILL.md": b"# hello\n"}
    verify_skill(files, {"network": []}, sign_skill(files, {"network": []}, key.private_key, key.key_id), public)
    discord = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(values["DISCORD_DEV_PRIVATE_KEY"]))
    assert discord.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex() \
        == values["DISCORD_PUBLIC_KEY"]
    target = StreamTarget(instance_id="00000000-0000-0000-0000-000000000001", turn_id="t1", app="a", machine_id="m")
    assert verify(sign(target, values["STREAM_TOKEN_PRIVATE_KEY"]), values["STREAM_TOKEN_PUBLIC_KEY"]) == target
    assert ensure_local_secrets(tmp_path / "local.env") == values  # once
