"""Headless Chromium (Debian's, installed by scripts/ensure-chromium) driven by Playwright for Python,
against `openagents dev` as a user runs it; axe-core loaded from the npm registry's tarball, cached."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.postgres import free_port
from tests.e2e.conftest import stack_env
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, axe_source
from tests.support.dev_stack import DevStack

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def chromium() -> str:
    subprocess.run([str(ROOT / "scripts" / "ensure-chromium")], check=True, timeout=900)
    return CHROMIUM


@pytest.fixture(scope="session")
def axe() -> str:
    return axe_source()


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _free_run(n: int) -> int:
    """A port where `n` consecutive ports are free (the relay fakes listen on fixed offsets of one base,
    and another stack on this machine may hold the default ones)."""
    for _ in range(50):
        base = free_port()
        if base + n < 65536 and all(_free(base + i) for i in range(1, n)):
            return base
    raise RuntimeError("no run of free ports")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture(scope="module")
def console_devstack(database: Any, seed_signing_key: str) -> Iterator[DevStack]:
    """`openagents dev` on a free port, with a real skill-signing key (the harness's is a canary that
    cannot sign), so a creator's upload can publish, and quick lifecycle retries (a failing hire ends
    in seconds, and made from scratch: no warm pool unit to claim)."""
    port = free_port()
    stack = DevStack(stack_env(database, "openagents_console", port, SKILL_SIGNING_KEY=seed_signing_key,
                               LIFECYCLE_RETRY_BASE_S="0.2", WARM_POOL_SIZE="0",
                               RELAY_FAKE_PORT_BASE=str(_free_run(4))), port)
    try:
        stack.start(timeout=60)
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="module")
def console_stack(console_devstack: DevStack) -> str:
    return console_devstack.base


@pytest.fixture(scope="module")
def fly_emulator(console_devstack: DevStack) -> str:
    """The stack's Fly emulator (its admin routes switch faults on), from the banner it printed."""
    found = re.search(r"Fly \(emulator\)\s+(http://\S+)", console_devstack.output())
    assert found, console_devstack.output()
    return found.group(1)
