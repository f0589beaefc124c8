"""The dependency audit's inputs (devstack/dependency_audit.py): the allow-list is valid and current,
the lock is read completely, and findings are matched to entries by id or alias. The audit itself
(`make audit`) needs PyPI's JSON API, which CI cannot reach — see the module's docstring."""

from __future__ import annotations

import datetime as dt
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from devstack.dependency_audit import (
    ALLOWLIST,
    LOCK,
    MAX_ALLOW_DAYS,
    Allowed,
    AuditError,
    Finding,
    load_allowlist,
    locked_requirements,
    unaccepted,
)

TODAY = dt.date(2026, 12, 1)


def test_the_shipped_allow_list_is_valid_and_unexpired():
    for entry in load_allowlist(ALLOWLIST):  # raises on any invalid or expired entry
        assert entry.expires >= dt.date.today()


def test_the_lock_is_read_completely():
    reqs = locked_requirements(LOCK)
    packages = [p for p in tomllib.loads(LOCK.read_text())["package"] if "registry" in p.get("source", {})]
    assert len(reqs) == len({(p["name"], p["version"]) for p in packages})
    assert "asyncssh==2.24.1" in reqs and "pip-audit==2.10.1" in reqs
    assert not any(r.startswith("openagents==") for r in reqs)
    assert metadata.version("pip-audit") == "2.10.1"  # the pinned auditor is what is installed


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "allow.toml"
    path.write_text(body)
    return path


GOOD = '[[allow]]\nid = "GHSA-aaaa-bbbb-cccc"\npackage = "Example"\nreason = "Only the CLI is affected; we import the library."\nexpires = 2027-01-31\n'


def test_a_good_entry_and_an_empty_file(tmp_path):
    assert load_allowlist(_write(tmp_path, GOOD), today=TODAY) == [
        Allowed("GHSA-aaaa-bbbb-cccc", "example", "Only the CLI is affected; we import the library.", dt.date(2027, 1, 31))]
    assert load_allowlist(_write(tmp_path, "# nothing accepted\n"), today=TODAY) == []


@pytest.mark.parametrize(("body", "message"), [
    (GOOD.replace("expires = 2027-01-31", "expires = 2026-11-30"), "expired on 2026-11-30"),
    (GOOD.replace("expires = 2027-01-31", f"expires = {TODAY + dt.timedelta(days=MAX_ALLOW_DAYS + 1)}"),
     "more than 180 days"),
    (GOOD.replace("expires = 2027-01-31", 'expires = "2027-01-31"'), "must be a TOML date"),
    (GOOD.replace('reason = "Only the CLI is affected; we import the library."', 'reason = "ok"'), "20 characters"),
    (GOOD.replace('package = "Example"\n', ""), "needs exactly"),
    (GOOD + 'owner = "someone"\n', "needs exactly"),
    ('allow = "everything"\nother = 1\n', "unknown top-level keys"),
])
def test_bad_entries_fail_the_audit(tmp_path, body, message):
    with pytest.raises(AuditError, match=message):
        load_allowlist(_write(tmp_path, body), today=TODAY)


def test_findings_match_entries_by_id_or_alias_and_package():
    entry = Allowed("GHSA-aaaa-bbbb-cccc", "example", "reason enough for the test", TODAY)
    by_id = Finding("example", "1.0", "GHSA-aaaa-bbbb-cccc", (), ("1.1",))
    by_alias = Finding("example", "1.0", "PYSEC-2026-1", ("GHSA-aaaa-bbbb-cccc",), ())
    other_package = Finding("other", "1.0", "GHSA-aaaa-bbbb-cccc", (), ())
    other_id = Finding("example", "1.0", "PYSEC-2026-2", (), ())
    assert unaccepted([by_id, by_alias, other_package, other_id], [entry]) == [other_package, other_id]
    assert "fixed in 1.1" in str(by_id) and "no fix yet" in str(other_id)
