"""The benchmark registry: `@benchmark("name")` registers a function, `run` in `bench` runs them.

A benchmark is a function `(ctx: Context) -> Result`. It prints its figures as readable lines
(marking every figure that misses its goal with `MISSED`, see `verdict`) and returns the headline
figure; the runner prints the fixed last line (ARCHITECTURE §6):

    NAME: ratio=<x> goal=<y>        or        NAME: value=<x><unit> goal=<y>

Benchmarks measure, they don't assert: a missed goal is reported, not raised.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.environment import BenchDatabase

# The order `openagents bench` runs them in (ARCHITECTURE §7); names not listed run after, by name.
# The chat benchmarks come before the lifecycle ones: those leave Fly-bound jobs of their own emulator
# in the shared queue, which a later drain would otherwise wait for.
ORDER = ("rls", "coldstart", "stream", "warm-hire", "relay-intake", "health-sweep", "hire", "billing-aggregate", "debits",
         "intake", "search", "sweeps")

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt,
}


@dataclass(frozen=True)
class Goal:
    """A target such as `<=1.5` (a ratio) or `<150ms` (a value with a unit)."""

    op: str
    target: float
    unit: str = ""

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"goal operator must be one of {sorted(_OPS)}, not {self.op!r}")

    def met(self, x: float) -> bool:
        return _OPS[self.op](x, self.target)

    def __str__(self) -> str:
        return f"{self.op}{self.target:g}{self.unit}"


def verdict(goal: Goal, x: float) -> str:
    """What to print after a figure that has a goal: `ok` or a loud `MISSED`."""
    return "ok" if goal.met(x) else "MISSED"


@dataclass(frozen=True)
class Result:
    """A benchmark's headline figure: a `ratio` (unitless) or a `value` with a unit."""

    name: str
    goal: Goal
    ratio: float | None = None
    value: float | None = None
    unit: str = ""

    def __post_init__(self) -> None:
        if (self.ratio is None) == (self.value is None):
            raise ValueError("a result has exactly one of ratio= or value=")
        if self.value is not None and not self.unit.isalpha() and self.unit != "%":
            raise ValueError("a value needs a unit made of letters (ms, s, rps) or %")

    @property
    def figure(self) -> float:
        return self.ratio if self.ratio is not None else self.value  # type: ignore[return-value]

    @property
    def met(self) -> bool:
        return self.goal.met(self.figure)

    def line(self) -> str:
        """The fixed last line."""
        if self.ratio is not None:
            return f"{self.name}: ratio={self.ratio:.2f} goal={self.goal}"
        return f"{self.name}: value={_number(self.value)}{self.unit} goal={self.goal}"  # type: ignore[arg-type]


def _number(x: float) -> str:
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


@dataclass
class Context:
    """What a benchmark gets: the size to run at and a (lazily created, run-wide) database."""

    full: bool
    _database: Callable[[], BenchDatabase] | None = field(default=None, repr=False)

    def database(self) -> BenchDatabase:
        if self._database is None:
            raise RuntimeError("this context has no database")
        return self._database()


BenchFn = Callable[[Context], Result]


@dataclass(frozen=True)
class Benchmark:
    name: str
    fn: BenchFn
    description: str


_REGISTRY: dict[str, Benchmark] = {}


def benchmark(name: str, description: str = "") -> Callable[[BenchFn], BenchFn]:
    """Registers `fn` under `name` (unique; lowercase words joined by `-`)."""
    if not name or not all(part.isalnum() and part.islower() for part in name.split("-")):
        raise ValueError(f"benchmark name {name!r}: use lowercase words joined by '-'")

    def register(fn: BenchFn) -> BenchFn:
        existing = _REGISTRY.get(name)
        if existing is not None and existing.fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"benchmark {name!r} is registered twice")
        _REGISTRY[name] = Benchmark(name, fn, description or (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return register


def all_benchmarks() -> list[Benchmark]:
    rank = {n: i for i, n in enumerate(ORDER)}
    return sorted(_REGISTRY.values(), key=lambda b: (rank.get(b.name, len(ORDER)), b.name))


def get(name: str) -> Benchmark | None:
    return _REGISTRY.get(name)
