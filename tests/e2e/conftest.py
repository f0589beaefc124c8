from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devstack.postgres import free_port
from tests.support.harness import RECORDER


@pytest.fixture(scope="module")
def running_stack(database: Any) -> Iterator[str]:
    """`openagents dev` as a user runs it, on a free port, with a database of its own in the test
    cluster (its job worker must not pick up other tests' jobs)."""
    from shared.data import migrate

    port = free_port()
    migrate.create_database(database.admin_url, "openagents_e2e")
    url = database.admin_url.rsplit("/", 1)[0] + "/openagents_e2e"
    # As on a fresh machine: no Stripe keys, so `openagents dev` runs its local Stripe fake.
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIPE_")}
    env.update({"DATABASE_URL": url, "PORT": str(port)})
    log_file = tempfile.NamedTemporaryFile(prefix="oa-e2e-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "dev"], env=env,
                            stdout=log_file, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"openagents dev did not come up:\n{open(log_file.name).read()}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        # The server's own log lines join the session's leak check.
        with open(log_file.name) as fh:
            for line in fh:
                RECORDER.log(line.rstrip("\n"))
        os.unlink(log_file.name)
