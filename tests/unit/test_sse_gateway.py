"""The SSE gateway answers fly-replay for a valid stream token and nothing else."""

from starlette.testclient import TestClient

from fly.sse_gateway.app import create_app
from shared.streaming.tokens import StreamTarget, new_keypair, sign

PRIV, PUB = new_keypair()
OTHER_PRIV, _ = new_keypair()
TARGET = StreamTarget(instance_id="i-1", app="oa-inst-abc", machine_id="3d8d9e7b2c1e89", turn_id="t-1")


def test_valid_token_replays_to_the_instance():
    client = TestClient(create_app(PUB))
    resp = client.post("/v1/turns", headers={"x-stream-token": sign(TARGET, PRIV)}, json={"message": "hi"})
    assert resp.status_code == 204
    assert resp.headers["fly-replay"] == "app=oa-inst-abc;instance=3d8d9e7b2c1e89"


def test_forged_expired_and_missing_tokens_are_refused():
    client = TestClient(create_app(PUB))
    for token in (sign(TARGET, OTHER_PRIV), sign(TARGET, PRIV, ttl_s=-30), "garbage", ""):
        resp = client.post("/v1/turns", headers={"x-stream-token": token})
        assert resp.status_code == 401 and "fly-replay" not in resp.headers
        assert resp.headers["content-type"].startswith("application/problem+json")


def test_malformed_target_is_refused():
    bad = StreamTarget(instance_id="i", app="evil;instance=x", machine_id="m1", turn_id="t")
    resp = TestClient(create_app(PUB)).post("/v1/turns", headers={"x-stream-token": sign(bad, PRIV)})
    assert resp.status_code == 400 and "fly-replay" not in resp.headers
