"""Destroy (ARCHITECTURE §4): `destroying` → stop → delete machine → snapshot + delete volume →
delete app → `destroyed`. Sessions and messages stay (the row is kept, only its status changes).

The API moves the instance to `destroying` and defers this job; the job works from the app's name,
not only from the recorded ids, so resources an interrupted provisioning never recorded go too.
"""

from __future__ import annotations

import logging
import time

from shared import logs
from shared.lifecycle import gateway, machines, names, store
from shared.lifecycle.config import fly_client
from shared.lifecycle.locks import instance_lock
from shared.lifecycle.states import DESTROYED

log = logging.getLogger("openagents.lifecycle")


def destroy(instance_id: str) -> str:
    with instance_lock(instance_id), fly_client() as fly:
        row = store.load(instance_id)
        if row is None:
            return "gone"
        if row.status != "destroying":
            return f"skipped ({row.status})"
        for app in {row.fly_app or names.app_name(row.key), names.app_name(row.key)}:
            machines.delete_everything(fly, app, snapshot=True, deadline=time.monotonic() + 120)
        gateway.delete_token(str(row.gateway_token_secret_id) if row.gateway_token_secret_id else None)
        store.transition(row.key, DESTROYED)
    logs.log(log, logging.INFO, "instance destroyed", instance_id=instance_id)
    return "destroyed"
