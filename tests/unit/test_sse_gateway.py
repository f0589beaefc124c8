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


def test_a_routed_turn_lets_the_edge_cache_the_replay_for_that_route_only():
    from shared.streaming.tokens import route_key

    route = route_key(TARGET.instance_id, TARGET.app, TARGET.machine_id, PRIV)
    routed = StreamTarget(TARGET.instance_id, TARGET.app, TARGET.machine_id, TARGET.turn_id, route)
    client = TestClient(create_app(PUB), base_url="http://gw.example:8443")
    for path in (f"/r/{route}/v1/turns", f"/r/{route}/v1/turns/t-1/events"):
        resp = client.request("POST" if path.endswith("turns") else "GET", path,
                              headers={"x-stream-token": sign(routed, PRIV)})
        assert resp.status_code == 204, resp.text
        assert resp.headers["fly-replay"] == "app=oa-inst-abc;instance=3d8d9e7b2c1e89"
        assert resp.headers["fly-replay-cache"] == f"gw.example/r/{route}/*"  # no port: Fly's rule
        assert int(resp.headers["fly-replay-cache-ttl-secs"]) >= 10
        assert "fly-replay-cache-allow-bypass" not in resp.headers
    # A token for one route cannot seed the cache of another path, nor go unrouted.
    for path in ("/r/someoneelse/v1/turns", "/v1/turns"):
        resp = client.post(path, headers={"x-stream-token": sign(routed, PRIV)})
        assert resp.status_code == 403 and "fly-replay" not in resp.headers
    # A route-less token under a route is refused too; route-less under no route stays uncached.
    assert client.post(f"/r/{route}/v1/turns", headers={"x-stream-token": sign(TARGET, PRIV)}).status_code == 403
    plain = client.post("/v1/turns", headers={"x-stream-token": sign(TARGET, PRIV)})
    assert plain.status_code == 204 and "fly-replay-cache" not in plain.headers


def test_route_keys_are_per_machine_and_secret():
    from shared.streaming.tokens import route_key

    a = route_key("i-1", "app", "m1", PRIV)
    assert a == route_key("i-1", "app", "m1", PRIV) and len(a) == 22
    assert len({a, route_key("i-1", "app", "m2", PRIV), route_key("i-2", "app", "m1", PRIV),
                route_key("i-1", "app", "m1", OTHER_PRIV)}) == 4
