"""`coldstart`: the import time of every serverless entry point (ARCHITECTURE §7, goal < 150 ms each).

An entry point is every `api/*.py` and `functions/*.py` module except `__init__`. Each one is imported
in a fresh interpreter (the import itself timed with `perf_counter` inside that process; the whole
process's wall time is shown beside it), 5 times (once with --quick), median reported. The project's
bytecode is compiled first and one untimed interpreter importing them all writes any missing `__pycache__` entry, so
what is measured is a deployed cold start, not compilation (PYTHONDONTWRITEBYTECODE is removed from the
child's environment for that). The child runs with OPENAGENTS_ENV=test and a placeholder DATABASE_URL
so settings load but nothing connects. For the slowest module, `-X importtime` shows where the time goes.
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.registry import Context, Goal, Result, benchmark, verdict

ROOT = Path(__file__).resolve().parent.parent
ENTRY_DIRS = ("api", "functions")
PROJECT_PACKAGES = ("api", "functions", "shared")
GOAL = Goal("<", 150, "ms")
# Port 9 (discard) on loopback: a syntactically valid URL nothing will ever answer.
PLACEHOLDER_DATABASE_URL = "postgresql://coldstart:coldstart@127.0.0.1:9/coldstart"

_TIMED_IMPORT = (
    "import time\n"
    "t = time.perf_counter()\n"
    "import {module} as m\n"
    "d = time.perf_counter() - t\n"
    "print(repr(d * 1000.0), hasattr(m, 'app'))\n"
)


def entry_points(root: Path = ROOT) -> list[str]:
    out = []
    for d in ENTRY_DIRS:
        out += [f"{d}.{p.stem}" for p in sorted((root / d).glob("*.py")) if p.stem != "__init__" and p.stem.isidentifier()]
    return out


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME", "PYTHONSTARTUP")}
    env["OPENAGENTS_ENV"] = "test"
    env["DATABASE_URL"] = PLACEHOLDER_DATABASE_URL
    return env


def precompile(root: Path = ROOT) -> float:
    started = time.perf_counter()
    for pkg in PROJECT_PACKAGES:
        if (root / pkg).is_dir() and not compileall.compile_dir(str(root / pkg), quiet=1):
            raise RuntimeError(f"compileall failed for {pkg}/")
    return time.perf_counter() - started


@dataclass
class Sample:
    import_ms: float
    process_ms: float
    has_app: bool


def import_once(module: str, env: dict[str, str], *, importtime: bool = False) -> tuple[Sample, str]:
    args = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", _TIMED_IMPORT.format(module=module)]
    started = time.perf_counter()
    r = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # noqa: S603 (our own modules)
    process_ms = (time.perf_counter() - started) * 1000
    if r.returncode != 0:
        raise RuntimeError(f"importing {module} failed:\n{r.stderr.strip()[-3000:]}")
    ms, has_app = r.stdout.split()[-2:]
    return Sample(float(ms), process_ms, has_app == "True"), r.stderr


def warm_up(modules: list[str], env: dict[str, str]) -> None:
    """One untimed interpreter importing every entry point, so every module they load has its bytecode."""
    code = "".join(f"import {m}\n" for m in modules)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,  # noqa: S603
                       timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"importing the entry points failed:\n{r.stderr.strip()[-3000:]}")


@dataclass
class ImportLine:
    name: str
    self_us: int
    cumulative_us: int
    importer: str | None


def parse_importtime(stderr: str) -> list[ImportLine]:
    """`-X importtime` lines (`import time: self | cumulative | <indent>name`) with each module's importer.

    Lines come in post-order (a module after everything it imported), so read backwards: a module's
    importer is the nearest module one level shallower seen before it.
    """
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:"):].split("|", 2)
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append((depth, name.strip(), int(self_us), int(cum_us)))
    out: list[ImportLine] = []
    path: list[str] = []
    for depth, name, s, c in reversed(rows):
        del path[depth:]
        out.append(ImportLine(name, s, c, path[-1] if path else None))
        path.append(name)
    out.reverse()
    return out


def _is_project(name: str | None) -> bool:
    return name is not None and name.split(".")[0] in PROJECT_PACKAGES


@dataclass
class Heavy:
    package: str
    ms: float
    importers: list[str]


def heaviest(lines: list[ImportLine], n: int = 5) -> list[Heavy]:
    """The `n` costliest packages that project code imports directly, by cumulative time (summed over
    the package's modules our code imports): the ones worth deferring to first use or replacing."""
    by_package: dict[str, Heavy] = {}
    for ln in lines:
        if _is_project(ln.importer) and not _is_project(ln.name):
            h = by_package.setdefault(ln.name.split(".")[0], Heavy(ln.name.split(".")[0], 0.0, []))
            h.ms += ln.cumulative_us / 1000
            if ln.importer not in h.importers:
                h.importers.append(ln.importer)  # type: ignore[arg-type]
    return sorted(by_package.values(), key=lambda h: h.ms, reverse=True)[:n]


def project_self_ms(lines: list[ImportLine]) -> float:
    """Time spent executing the project's own module bodies (models, apps, routes built at import)."""
    return sum(ln.self_us for ln in lines if _is_project(ln.name)) / 1000


@benchmark("coldstart", "import time of each serverless entry point in a fresh interpreter")
def run(ctx: Context) -> Result:
    runs = 5 if ctx.full else 1
    modules = entry_points()
    if not modules:
        raise RuntimeError("no serverless entry points found under api/ or functions/")
    env = child_env()
    compile_s = precompile()
    warm_up(modules, env)  # writes any missing __pycache__ entry (dependencies included)
    print(f"compiled the project's bytecode in {compile_s:.1f} s; {len(modules)} entry points, "
          f"median of {runs} fresh interpreter{'s' if runs > 1 else ''} each")

    medians: dict[str, float] = {}
    for module in modules:
        samples = [import_once(module, env)[0] for _ in range(runs)]
        ms = statistics.median(s.import_ms for s in samples)
        medians[module] = ms
        note = "" if samples[0].has_app else "   (no `app` attribute)"
        print(f"  {module:<28} {ms:7.1f} ms  (min {min(s.import_ms for s in samples):.1f}, "
              f"process {statistics.median(s.process_ms for s in samples):.0f} ms)  goal {GOAL}  "
              f"{verdict(GOAL, ms)}{note}", flush=True)

    slowest = max(medians, key=medians.__getitem__)
    _, stderr = import_once(slowest, env, importtime=True)
    lines = parse_importtime(stderr)
    own = next((ln for ln in lines if ln.name == slowest), None)
    print(f"slowest: {slowest}; the heaviest imports our code makes (-X importtime, cumulative"
          + (f", of {own.cumulative_us / 1000:.1f} ms in total" if own else "") + "):")
    for h in heaviest(lines):
        print(f"  {h.ms:7.1f} ms  {h.package}  (imported by {', '.join(h.importers)})")
    print(f"  {project_self_ms(lines):7.1f} ms  the project's own module bodies (self time of api.*, functions.*, "
          f"shared.*)")

    worst = medians[slowest]
    print(f"worst entry point {worst:.1f} ms  goal {GOAL}  {verdict(GOAL, worst)}")
    return Result("coldstart", GOAL, value=worst, unit="ms")
