"""Named queries: every `*.sql` file here holds `-- name: <query_name>` blocks.

Parameters are psycopg named placeholders (`%(slug)s`). A query's parameter names are checked on
bind, so a typo is a clear error instead of a confusing driver message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_NAME = re.compile(r"^--\s*name:\s*([a-z0-9_]+)\s*$", re.M)
_PARAM = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    sql: str
    params: frozenset[str]

    def bind(self, given: Mapping[str, Any]) -> Mapping[str, Any]:
        missing = self.params - given.keys()
        extra = given.keys() - self.params
        if missing or extra:
            raise TypeError(f"query {self.name}: missing {sorted(missing)}, unexpected {sorted(extra)}")
        return given


def load(folder: Path) -> dict[str, Query]:
    out: dict[str, Query] = {}
    for path in sorted(folder.glob("*.sql")):
        text = path.read_text()
        marks = list(_NAME.finditer(text))
        for i, m in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
            sql = text[m.end() : end].strip().rstrip(";")
            if m.group(1) in out:
                raise ValueError(f"duplicate query name {m.group(1)} in {path.name}")
            out[m.group(1)] = Query(m.group(1), sql, frozenset(_PARAM.findall(sql)))
    return out


QUERIES = load(Path(__file__).parent)
