"""Unit tests are pure logic: one that asks for the database (directly or through a fixture that
needs it) belongs under tests/integration."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The hook sees the whole session's items, not only this folder's.
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents and "database" in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(f"{item.nodeid} uses the database: move it to tests/integration")
