"""Benchmarks (ARCHITECTURE §7): `openagents bench [NAME] [--quick]` calls `run`.

Every module in this package registers its benchmarks with `bench.registry.benchmark`; they are
discovered on first use. Each benchmark prints its figures and ends with the fixed line
`NAME: ratio=<x> goal=<y>` or `NAME: value=<x><unit> goal=<y>`. Exit code 0 when every selected
benchmark ran (missed goals included: they are printed as `MISSED`), 1 when one crashed, 2 for an
unknown name.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback
from contextlib import ExitStack

from bench import registry

_SUPPORT = {"registry", "environment"}
_loaded = False


def _discover() -> None:
    global _loaded
    if _loaded:
        return
    for mod in pkgutil.iter_modules(__path__):
        if mod.name in _SUPPORT or mod.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{__name__}.{mod.name}")
        except Exception as exc:  # one broken benchmark module must not hide the others
            print(f"bench: could not load bench/{mod.name}.py: {exc!r}", file=sys.stderr)
    _loaded = True


def names() -> list[str]:
    _discover()
    return [b.name for b in registry.all_benchmarks()]


def run(name: str | None, full: bool = True) -> int:
    import signal
    import sys

    # SIGTERM unwinds like Ctrl-C, so throwaway clusters and emulators are torn down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    _discover()
    benchmarks = registry.all_benchmarks()
    if name is not None:
        chosen = registry.get(name)
        if chosen is None:
            print(f"unknown benchmark {name!r}; available: {', '.join(b.name for b in benchmarks) or '(none)'}")
            return 2
        benchmarks = [chosen]

    from bench.environment import BenchDatabase, database

    code = 0
    with ExitStack() as stack:
        shared_db: list[BenchDatabase] = []

        def get_database() -> BenchDatabase:
            if not shared_db:  # one database for the whole run, made when a benchmark first asks
                shared_db.append(stack.enter_context(database()))
            return shared_db[0]

        ctx = registry.Context(full=full, _database=get_database)
        for b in benchmarks:
            print(f"== {b.name} ({'full' if full else 'quick'} size): {b.description}", flush=True)
            started = time.perf_counter()
            try:
                result = b.fn(ctx)
            except Exception as exc:
                traceback.print_exc()
                print(f"{b.name}: failed after {time.perf_counter() - started:.1f} s: {exc!r}", flush=True)
                code = 1
                continue
            print(result.line(), flush=True)  # the fixed last line: nothing may follow it
            print(f"({b.name} took {time.perf_counter() - started:.1f} s)", file=sys.stderr, flush=True)
    return code
