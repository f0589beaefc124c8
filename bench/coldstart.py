"""`coldstart`: the import time of every serverless entry point against the bare framework's (ARCHITECTURE §7).

An entry point is every `api/*.py` and `functions/*.py` module except `__init__`. Each one is imported
in a fresh interpreter (the import itself timed with `perf_counter` inside that process; the whole
process's wall time is shown beside it), 5 times (once with --quick), median reported. Beside every
one of those imports the bare framework (flask + pydantic + pydantic-settings) is imported the same
way in its own fresh interpreter, the two in alternating order, so whatever load the machine is under
weighs on both alike; each entry point's ratio is its median over the median of its framework twins
(goal ≤ 1.15×, the headline is the worst). The ratio is taken of CPU time (`process_time`, user + system,
inside the child): on a dedicated serverless instance that is the import's wall time, while on a shared
machine wall time is mostly waiting for a core. Wall time and its ratio are printed beside it, and the
absolute wall figure (goal < 150 ms) stays a report line. The project's
bytecode is compiled first and one untimed interpreter importing them all writes any missing `__pycache__` entry, so
what is measured is a deployed cold start, not compilation (PYTHONDONTWRITEBYTECODE is removed from the
child's environment for that). The child runs with OPENAGENTS_ENV=test and a placeholder DATABASE_URL
so settings load but nothing connects. For the entry point with the worst ratio, `-X importtime` shows where
the time goes.

CPU time on a shared machine still moves ±10% between runs. With `BENCH_COLDSTART_INSTRUCTIONS=1` and
valgrind on PATH, every entry point's import is also counted in instructions under callgrind (once:
the count is the same run after run), as is the framework's and an empty interpreter's; the ratio of
instructions beyond the empty interpreter is printed beside the CPU ratio and becomes the headline.
"""

from __future__ import annotations

import compileall
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.registry import Context, Goal, Result, benchmark, verdict

ROOT = Path(__file__).resolve().parent.parent
ENTRY_DIRS = ("api", "functions")
PROJECT_PACKAGES = ("api", "functions", "shared")
GOAL = Goal("<", 150, "ms")
RATIO_GOAL = Goal("<=", 1.15)
# What every entry point needs anyway: the floor our own code is measured against.
FRAMEWORK = "flask, pydantic, pydantic_settings"
FRAMEWORK_LABEL = "bare framework"
# Port 9 (discard) on loopback: a syntactically valid URL nothing will ever answer.
PLACEHOLDER_DATABASE_URL = "postgresql://coldstart:coldstart@127.0.0.1:9/coldstart"

# Prints the import's wall time, its CPU time (user + system of this process) and whether it has `app`.
_TIMED = (
    "import time\n"
    "t, c = time.perf_counter(), time.process_time()\n"
    "import {modules}\n"
    "d, e = time.perf_counter() - t, time.process_time() - c\n"
    "print(repr(d * 1000.0), repr(e * 1000.0), {has_app})\n"
)


INSTRUCTIONS_ENV = "BENCH_COLDSTART_INSTRUCTIONS"
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def instructions(code: str, env: dict[str, str]) -> int:
    """Instructions a fresh interpreter running `code` executes, counted by callgrind."""
    args = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", code]
    r = subprocess.run(args, cwd=ROOT, env={**env, "PYTHONHASHSEED": "0"}, capture_output=True, text=True,  # noqa: S603
                       timeout=900)
    m = _COLLECTED.search(r.stderr)
    if r.returncode != 0 or m is None:
        raise RuntimeError(f"callgrind of {code!r} failed:\n{r.stderr.strip()[-2000:]}")
    return int(m.group(1))


def instruction_ratios(modules: list[str], env: dict[str, str]) -> tuple[dict[str, float], int, int]:
    """Each entry point's import in instructions over the framework's, both net of an empty interpreter."""
    codes = ["pass", f"import {FRAMEWORK}", *(f"import {m}" for m in modules)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        counts = list(pool.map(lambda c: instructions(c, env), codes))
    empty, framework = counts[0], counts[1]
    return ({m: (n - empty) / (framework - empty) for m, n in zip(modules, counts[2:], strict=True)},
            framework - empty, empty)


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
    cpu_ms: float
    process_ms: float
    has_app: bool


def import_once(module: str | None, env: dict[str, str], *, importtime: bool = False) -> tuple[Sample, str]:
    """Imports `module` (None: the bare framework) in a fresh interpreter."""
    code = (_TIMED.format(modules=FRAMEWORK, has_app=True) if module is None
            else _TIMED.format(modules=f"{module} as m", has_app="hasattr(m, 'app')"))
    args = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", code]
    started = time.perf_counter()
    r = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # noqa: S603 (our own modules)
    process_ms = (time.perf_counter() - started) * 1000
    if r.returncode != 0:
        raise RuntimeError(f"importing {module or FRAMEWORK} failed:\n{r.stderr.strip()[-3000:]}")
    ms, cpu_ms, has_app = r.stdout.split()[-3:]
    return Sample(float(ms), float(cpu_ms), process_ms, has_app == "True"), r.stderr


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


@dataclass
class Measured:
    entry: list[Sample]
    framework: list[Sample]  # each taken right beside the entry sample of the same index

    @property
    def ms(self) -> float:
        return statistics.median(s.import_ms for s in self.entry)

    @property
    def framework_ms(self) -> float:
        return statistics.median(s.import_ms for s in self.framework)

    @property
    def ratio(self) -> float:
        return self.ms / self.framework_ms

    @property
    def cpu_ms(self) -> float:
        return statistics.median(s.cpu_ms for s in self.entry)

    @property
    def framework_cpu_ms(self) -> float:
        return statistics.median(s.cpu_ms for s in self.framework)

    @property
    def cpu_ratio(self) -> float:
        return self.cpu_ms / self.framework_cpu_ms


def measure(module: str, env: dict[str, str], runs: int) -> Measured:
    """`runs` imports of `module`, each paired with one of the bare framework, alternating which goes first."""
    m = Measured([], [])
    for i in range(runs):
        if i % 2 == 0:
            m.framework.append(import_once(None, env)[0])
            m.entry.append(import_once(module, env)[0])
        else:
            m.entry.append(import_once(module, env)[0])
            m.framework.append(import_once(None, env)[0])
    return m


@benchmark("coldstart", "import time of each serverless entry point in a fresh interpreter vs the bare framework's")
def run(ctx: Context) -> Result:
    runs = 5 if ctx.full else 1
    modules = entry_points()
    if not modules:
        raise RuntimeError("no serverless entry points found under api/ or functions/")
    env = child_env()
    compile_s = precompile()
    warm_up(modules, env)  # writes any missing __pycache__ entry (dependencies included)
    print(f"compiled the project's bytecode in {compile_s:.1f} s; {len(modules)} entry points, "
          f"median of {runs} fresh interpreter{'s' if runs > 1 else ''} each, every one beside a fresh "
          f"interpreter importing the {FRAMEWORK_LABEL} ({FRAMEWORK}); ratio = CPU time over the framework's "
          f"(wall time, and its ratio, beside it)")

    measured: dict[str, Measured] = {}
    for module in modules:
        m = measure(module, env, runs)
        measured[module] = m
        note = "" if m.entry[0].has_app else "   (no `app` attribute)"
        print(f"  {module:<30} ratio {m.cpu_ratio:4.2f}  goal {RATIO_GOAL}  {verdict(RATIO_GOAL, m.cpu_ratio):<6}  "
              f"cpu {m.cpu_ms:6.1f} vs {m.framework_cpu_ms:6.1f} ms   wall {m.ms:6.1f} vs {m.framework_ms:6.1f} ms "
              f"(ratio {m.ratio:4.2f}, min {min(s.import_ms for s in m.entry):.1f}, process "
              f"{statistics.median(s.process_ms for s in m.entry):.0f} ms)  goal {GOAL}  {verdict(GOAL, m.ms)}{note}",
              flush=True)

    framework_all = [s for m in measured.values() for s in m.framework]
    print(f"{FRAMEWORK_LABEL} over the whole run ({len(framework_all)} interpreters): cpu median "
          f"{statistics.median(s.cpu_ms for s in framework_all):.1f} ms, wall median "
          f"{statistics.median(s.import_ms for s in framework_all):.1f} ms "
          f"(min {min(s.import_ms for s in framework_all):.1f}, max {max(s.import_ms for s in framework_all):.1f})")

    by_ratio = max(measured, key=lambda k: measured[k].cpu_ratio)
    _, stderr = import_once(by_ratio, env, importtime=True)
    lines = parse_importtime(stderr)
    own = next((ln for ln in lines if ln.name == by_ratio), None)
    print(f"worst ratio: {by_ratio}; the heaviest imports our code makes (-X importtime, cumulative"
          + (f", of {own.cumulative_us / 1000:.1f} ms in total" if own else "") + "):")
    for h in heaviest(lines):
        print(f"  {h.ms:7.1f} ms  {h.package}  (imported by {', '.join(h.importers)})")
    print(f"  {project_self_ms(lines):7.1f} ms  the project's own module bodies (self time of api.*, functions.*, "
          f"shared.*)")

    slowest = max(measured, key=lambda k: measured[k].ms)
    worst_ms = measured[slowest].ms
    print(f"worst entry point {slowest} {worst_ms:.1f} ms (wall)  goal {GOAL}  {verdict(GOAL, worst_ms)}  (a report)")
    worst_wall = max(m.ratio for m in measured.values())
    print(f"worst wall-time ratio {worst_wall:.2f} (a report: on a shared machine it is mostly waiting for a core)")
    worst = measured[by_ratio].cpu_ratio
    print(f"worst ratio to the {FRAMEWORK_LABEL} {worst:.2f} ({by_ratio}, CPU time)  goal {RATIO_GOAL}  "
          f"{verdict(RATIO_GOAL, worst)}")
    if os.environ.get(INSTRUCTIONS_ENV) != "1":
        return Result("coldstart", RATIO_GOAL, ratio=worst)
    if shutil.which("valgrind") is None:
        raise RuntimeError(f"{INSTRUCTIONS_ENV}=1 needs valgrind on PATH (Debian: apt-get install valgrind)")
    ratios, framework_n, empty_n = instruction_ratios(modules, env)
    print(f"instructions (callgrind, once each; net of an empty interpreter's {empty_n / 1e6:.0f}M): "
          f"{FRAMEWORK_LABEL} {framework_n / 1e6:.0f}M")
    for module, r in ratios.items():
        print(f"  {module:<30} ratio {r:5.3f}  goal {RATIO_GOAL}  {verdict(RATIO_GOAL, r):<6}  "
              f"(CPU-time ratio {measured[module].cpu_ratio:4.2f})")
    worst_module = max(ratios, key=lambda k: ratios[k])
    print(f"worst ratio to the {FRAMEWORK_LABEL} in instructions {ratios[worst_module]:.3f} ({worst_module})  "
          f"goal {RATIO_GOAL}  {verdict(RATIO_GOAL, ratios[worst_module])}")
    return Result("coldstart", RATIO_GOAL, ratio=ratios[worst_module])
