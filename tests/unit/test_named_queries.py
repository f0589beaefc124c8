"""Named queries: read on first lookup, each `-- name:` line starting one, names unique."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.data import queries
from shared.data.queries import QUERIES, Queries

FOLDER = Path(queries.__file__).parent


def test_the_lazy_mapping_holds_every_query_of_the_folder() -> None:
    eager = queries.load(FOLDER)
    assert len(eager) > 100 and dict(QUERIES) == eager
    assert QUERIES["rate_limit_hit"].params == {"key", "window_s"}
    with pytest.raises(KeyError):
        QUERIES["no_such_query"]


def test_marks_start_a_line_and_names_are_unique(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text(
        "-- name: first\nselect 1 -- name: not_a_mark;\n\n--name:second  \nselect %(x)s, %(y)s, %(x)s;\n")
    q = Queries(tmp_path)
    assert sorted(q) == ["first", "second"]
    assert q["first"].sql == "select 1 -- name: not_a_mark"
    assert q["second"].params == {"x", "y"} and q["second"] is q["second"]
    with pytest.raises(TypeError, match="missing"):
        q["second"].bind({"x": 1})
    # The next section's heading is not the query's: one sent with its own BEGIN and COMMIT
    # (`Database.service_once`) would have its COMMIT commented out.
    (tmp_path / "c.sql").write_text("-- name: third\nselect 3;\n\n-- Another section --------\n\n"
                                    "-- name: fourth\n-- why\nselect 4\n-- trailing\n")
    assert Queries(tmp_path)["third"].sql == "select 3"
    assert Queries(tmp_path)["fourth"].sql == "-- why\nselect 4"
    (tmp_path / "b.sql").write_text("-- name: first\nselect 2;\n")
    with pytest.raises(ValueError, match="duplicate query name first in b.sql"):
        len(Queries(tmp_path))
