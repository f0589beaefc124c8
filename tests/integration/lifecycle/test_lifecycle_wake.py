"""`wake` and `machine_target` (what chat and relays call), and the per-instance lock they share."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from shared.lifecycle import machine_target, wake
from shared.lifecycle.errors import InstanceBusy, InstanceNotFound, InstanceUnavailable
from shared.lifecycle.locks import instance_lock
from tests.integration.lifecycle.conftest import provisioned


@pytest.mark.parametrize("rest", ["suspend", "stop"])
def test_wake_brings_a_resting_instance_up(lifecycle, make_user, rest):
    user = make_user()
    iid, row = provisioned(lifecycle, user)
    lifecycle.action(user, iid, rest)
    lifecycle.drain(instance_ids=[iid])
    before = lifecycle.row(iid)
    assert before["status"] in ("suspended", "stopped")
    woken = wake(iid)
    assert woken.status == "running" and woken.last_active_at > before["last_active_at"]
    assert lifecycle.machine_state(row["fly_machine_id"]) == "started"
    again = wake(iid)  # running: returns at once
    assert again.status == "running"


def test_machine_target_reaches_the_bridge(lifecycle, make_user):
    user = make_user()
    iid, row = provisioned(lifecycle, user)
    target = machine_target(iid)
    app, machine_id, token = target  # unpacks as the tuple chat expects
    assert (app, machine_id) == (row["fly_app"], row["fly_machine_id"]) and target.app == app
    assert target.instance_id == iid and token not in repr(target)
    headers = {"fly-force-instance-id": machine_id}
    ok = httpx.get(f"{lifecycle.fly.proxy_url}/ready", headers={**headers, "Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert httpx.get(f"{lifecycle.fly.proxy_url}/ready", headers={**headers, "Authorization": "Bearer nope"}).status_code == 401


def test_wake_refuses_what_cannot_be_woken(lifecycle, make_user, db):
    user = make_user()
    iid = lifecycle.hire(user, "travel-buddy")["id"]
    with pytest.raises(InstanceUnavailable):
        wake(iid)  # still provisioning
    with pytest.raises(InstanceNotFound):
        wake("00000000-0000-4000-8000-000000000000")
    with pytest.raises(InstanceNotFound):
        machine_target("not-a-uuid")
    lifecycle.drain(instance_ids=[iid])
    with db.service() as tx:
        tx.sql("update agent_instances set status = 'error' where id = %(i)s", {"i": iid})
    with pytest.raises(InstanceUnavailable) as info:
        wake(iid)
    assert info.value.status == 503


def test_wake_waits_for_the_instance_lock(lifecycle, make_user):
    user = make_user()
    iid, _ = provisioned(lifecycle, user)
    lifecycle.action(user, iid, "suspend")
    lifecycle.drain(instance_ids=[iid])
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with instance_lock(iid):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    try:
        with pytest.raises(InstanceBusy):
            wake(iid, timeout_s=0.3)  # another operation holds it longer than the caller will wait
        assert lifecycle.row(iid)["status"] == "suspended"
        timer = threading.Timer(0.5, release.set)
        timer.start()
        started = time.monotonic()
        assert wake(iid, timeout_s=20).status == "running"  # waits its turn, then wakes
        assert time.monotonic() - started >= 0.4
    finally:
        release.set()
        holder.join(5)
