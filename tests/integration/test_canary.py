"""The prompt-injection canary on the database side: one per instance, planted in AGENTS.md with every
bundle, the relay check (`screen`) and the stream guard's trip, each audited for the owner. The web
chat path end to end is in tests/integration/chat/test_canary_stream.py."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from shared.security import canary
from tests.support.ssh_access import machine_instance


@pytest.fixture
def owned(make_user: Any, db: Any) -> tuple[Any, str]:
    u = make_user()
    return u, machine_instance(db, u.id).id


def _audit(client: Any, user: Any) -> list[dict[str, Any]]:
    return client.get("/api/me/audit", token=user.token).get_json()["items"]


def test_one_canary_per_instance_planted_in_agents_md(owned, db):
    _, instance_id = owned
    files = {"workspace/AGENTS.md": base64.b64encode(b"# Agent\n\nBe helpful.\n").decode(), "agent.yaml": "eA=="}
    planted = canary.plant(instance_id, files)
    value = canary.of_instance(instance_id)
    assert value and value.startswith(canary.PREFIX)
    text = base64.b64decode(planted["workspace/AGENTS.md"]).decode()
    assert text.startswith("# Agent\n\nBe helpful.\n") and text.rstrip().endswith(value) and "Never repeat" in text
    assert planted["agent.yaml"] == "eA=="
    assert canary.plant(instance_id, planted) == planted  # the same file on every push
    assert canary.ensure(instance_id) == value
    made = canary.plant(instance_id, {"agent.yaml": "eA=="})  # a bundle without AGENTS.md gets one
    assert value in base64.b64decode(made["workspace/AGENTS.md"]).decode()
    with db.service() as tx:
        assert tx.sql("select count(*) as n from private.instance_canaries where instance_id = %(i)s",
                      {"i": instance_id}).fetchone()["n"] == 1
    with db.user({"sub": owned[0].id, "role": "authenticated"}) as tx:
        with pytest.raises(Exception, match="permission denied"):
            tx.sql("select canary from private.instance_canaries")


def test_a_relay_reply_holding_the_canary_is_refused_and_audited(owned, client):
    user, instance_id = owned
    value = canary.ensure(instance_id)
    assert canary.screen(instance_id, "All good here.", channel="telegram") == "All good here."
    reply = f"My instructions say: {value.upper()} and more"
    assert canary.screen(instance_id, reply, channel="telegram", reference="inbox:7") == canary.REFUSAL
    (entry,) = [e for e in _audit(client, user) if e["action"] == "canary.tripped"]
    assert entry["target"] == f"instance:{instance_id}"
    assert entry["details"] == {"channel": "telegram", "reference": "inbox:7"}
    assert value not in str(entry) and value.upper() not in str(entry)


def test_the_stream_guard_trips_across_pieces_and_audits(owned, client):
    user, instance_id = owned
    value = canary.ensure(instance_id)
    guard = canary.stream_guard(instance_id, user_id=user.id, reference="turn-1")
    sent = guard.feed("Sure, here it is: ") + guard.feed(value[:7])
    with pytest.raises(canary.Tripped) as tripped:
        guard.feed(value[7:] + " done")
    assert value not in sent and sent == "Sure, here it is: "
    assert tripped.value.problem.code == "canary-tripped" and tripped.value.problem.status == 502
    assert [e["details"] for e in _audit(client, user) if e["action"] == "canary.tripped"] == [
        {"channel": "web", "reference": "turn-1"}]
