"""The dependency audit: every package pinned in `uv.lock` checked for known vulnerabilities.

    make audit          (= .venv/bin/python -m devstack.dependency_audit)

pip-audit asks PyPI's JSON API (`-s pypi`: the vulnerabilities PyPI publishes per release, from the
OSV database) about each `name==version` of the lock — every package of every platform the lock
resolves, the project itself excepted — without installing or resolving anything (`--no-deps
--disable-pip`). A package it could not look up fails the audit: a "skipped" package would pass
silently.

Why this is `make audit` and not part of `make test`: CI reaches PyPI only through a package index
(the simple API that installs use); PyPI's JSON API answers 404 there and OSV is unreachable, so every
package comes back "not found" — checked on this workplace's machines, which are CI's kind. Run it
where pypi.org's JSON API is reachable (a developer machine with internet, a scheduled job). The test
suite still checks the allow-list (format, reasons, expiry) and the lock parsing on every run
(tests/unit/test_dependency_audit.py).

A finding passes only if `dependency-allowlist.toml` accepts it: an entry names the vulnerability
(its id or one of its aliases), the package, why it is accepted, and the date the acceptance
expires (at most MAX_ALLOW_DAYS ahead, so every entry is looked at again). An expired entry, an entry
missing a field, or an unknown field fails the audit as well.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "uv.lock"
ALLOWLIST = ROOT / "dependency-allowlist.toml"
MAX_ALLOW_DAYS = 180
FIELDS = {"id", "package", "reason", "expires"}


class AuditError(Exception):
    """The audit could not be done, or its inputs are not valid."""


@dataclass(frozen=True, slots=True)
class Allowed:
    id: str
    package: str
    reason: str
    expires: dt.date


@dataclass(frozen=True, slots=True)
class Finding:
    package: str
    version: str
    id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]

    def __str__(self) -> str:
        fix = f" (fixed in {', '.join(self.fix_versions)})" if self.fix_versions else " (no fix yet)"
        also = f" [{', '.join(self.aliases)}]" if self.aliases else ""
        return f"{self.package}=={self.version}: {self.id}{also}{fix}"


def locked_requirements(lock: Path = LOCK) -> list[str]:
    """`name==version` of every registry package in the lock (the editable project left out)."""
    data = tomllib.loads(lock.read_text())
    out = sorted({f"{p['name']}=={p['version']}" for p in data.get("package", [])
                  if "registry" in (p.get("source") or {})})
    if not out:
        raise AuditError(f"{lock} pins no registry packages")
    return out


def load_allowlist(path: Path = ALLOWLIST, *, today: dt.date | None = None) -> list[Allowed]:
    """The entries, each checked: every field present and typed, nothing else, not expired, and
    expiring within MAX_ALLOW_DAYS."""
    today = today or dt.date.today()
    data = tomllib.loads(path.read_text()) if path.exists() else {}
    unknown = set(data) - {"allow"}
    if unknown:
        raise AuditError(f"{path.name}: unknown top-level keys {sorted(unknown)} (entries are [[allow]] tables)")
    entries: list[Allowed] = []
    problems: list[str] = []
    for i, raw in enumerate(data.get("allow", []), start=1):
        where = f"{path.name} entry {i}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: not a table")
            continue
        if set(raw) != FIELDS:
            problems.append(f"{where}: needs exactly {sorted(FIELDS)}, has {sorted(raw)}")
            continue
        if not all(isinstance(raw[k], str) and raw[k].strip() for k in ("id", "package", "reason")):
            problems.append(f"{where}: id, package and reason must be non-empty strings")
            continue
        if len(raw["reason"].strip()) < 20:
            problems.append(f"{where}: the reason must say why the finding is accepted (20 characters at least)")
        expires = raw["expires"]
        if not isinstance(expires, dt.date) or isinstance(expires, dt.datetime):
            problems.append(f"{where}: expires must be a TOML date (expires = 2027-01-31)")
            continue
        if expires < today:
            problems.append(f"{where} ({raw['id']}): expired on {expires}; fix the dependency or renew with a reason")
        elif (expires - today).days > MAX_ALLOW_DAYS:
            problems.append(f"{where} ({raw['id']}): expires more than {MAX_ALLOW_DAYS} days ahead")
        entries.append(Allowed(raw["id"].strip(), raw["package"].strip().lower(), raw["reason"].strip(), expires))
    if problems:
        raise AuditError("\n".join(problems))
    return entries


def run_pip_audit(requirements: list[str], *, timeout_s: float = 240) -> list[Finding]:
    with tempfile.TemporaryDirectory(prefix="oa-audit-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text("\n".join(requirements) + "\n")
        cmd = [sys.executable, "-m", "pip_audit", "-r", str(req), "--no-deps", "--disable-pip", "-s", "pypi",
               "-f", "json", "--progress-spinner", "off", "--timeout", "30"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)  # noqa: S603
        except subprocess.TimeoutExpired:
            raise AuditError(f"pip-audit did not finish within {timeout_s:g} s (is PyPI reachable?)") from None
    try:
        report = json.loads(done.stdout)
    except ValueError:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise AuditError("pip-audit could not check the lock against PyPI's vulnerability data "
                         f"(exit {done.returncode}): " + " | ".join(tail)) from None
    deps = report.get("dependencies", [])
    skipped = [d["name"] for d in deps if d.get("skip_reason")]
    if skipped and len(skipped) == len(deps):
        raise AuditError(f"PyPI's JSON API knew none of the {len(deps)} packages: it is not reachable from here "
                         "(an index mirror serves installs only); run `make audit` where pypi.org is reachable")
    if skipped:
        raise AuditError(f"pip-audit could not look up {len(skipped)} packages: {', '.join(skipped[:10])}"
                         + (" …" if len(skipped) > 10 else ""))
    return [Finding(d["name"].lower(), d["version"], v["id"], tuple(v.get("aliases") or ()), tuple(v.get("fix_versions") or ()))
            for d in report.get("dependencies", []) for v in d.get("vulns", [])]


def unaccepted(findings: list[Finding], allowed: list[Allowed]) -> list[Finding]:
    def accepted(f: Finding) -> bool:
        return any(a.package == f.package and a.id in (f.id, *f.aliases) for a in allowed)

    return [f for f in findings if not accepted(f)]


def audit(lock: Path = LOCK, allowlist: Path = ALLOWLIST) -> tuple[list[str], list[Finding], list[Finding]]:
    """(requirements checked, all findings, findings no entry accepts); AuditError when it cannot run."""
    allowed = load_allowlist(allowlist)
    requirements = locked_requirements(lock)
    findings = run_pip_audit(requirements)
    return requirements, findings, unaccepted(findings, allowed)


def main() -> int:
    try:
        requirements, findings, bad = audit()
    except AuditError as exc:
        print(f"dependency audit failed: {exc}", file=sys.stderr)
        return 2
    print(f"dependency audit: {len(requirements)} locked packages, {len(findings)} known vulnerabilities, "
          f"{len(findings) - len(bad)} accepted by {ALLOWLIST.name}")
    for f in bad:
        print(f"  VULNERABLE {f}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
