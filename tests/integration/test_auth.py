"""Access-token edge cases: every way a token can be wrong is a 401 problem, never a 500."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.config import reset_settings
from tests.support.harness import CANARIES, assert_problem

SECRET = CANARIES["SUPABASE_JWT_SECRET"]
ISSUER = "http://127.0.0.1:8080/auth/v1"


def claims(subject: str, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "sub": subject, "aud": "authenticated", "exp": now + 600, "iat": now,
            "role": "authenticated", "email": "x@test.dev"}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def me(client: Any, token: str | None, header: str | None = None) -> Any:
    headers = {"Authorization": header} if header else ({"Authorization": f"Bearer {token}"} if token else {})
    return client.get("/api/me", headers=headers)


def test_valid_hs256(client, user):
    assert me(client, jwt.encode(claims(user.id), SECRET, algorithm="HS256")).status_code == 200


@pytest.mark.parametrize("case", ["expired", "wrong-aud", "wrong-iss", "no-exp", "anon-role", "bad-sub"])
def test_bad_claims(client, user, case):
    over = {"expired": {"exp": int(time.time()) - 120}, "wrong-aud": {"aud": "somebody-else"},
            "wrong-iss": {"iss": "https://evil.example/auth/v1"}, "no-exp": {"exp": None},
            "anon-role": {"role": "anon"}, "bad-sub": {"sub": "not-a-uuid"}}[case]
    token = jwt.encode(claims(user.id, **over), SECRET, algorithm="HS256")
    body = assert_problem(me(client, token), 401)
    assert SECRET not in json.dumps(body)


def test_wrong_signature(client, user):
    assert_problem(me(client, jwt.encode(claims(user.id), "another-secret-entirely-different-0123456789", algorithm="HS256")), 401)


def test_alg_none(client, user):
    def b64(d: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims(user.id))}."
    assert_problem(me(client, token), 401)


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer    ", "token", "Bearer a.b.c", "Bearer ...."])
def test_malformed_headers(client, header):
    assert_problem(me(client, None, header=header), 401)


def test_missing_header(client):
    body = assert_problem(me(client, None), 401)
    assert body["type"].endswith("/unauthorized")


class _Jwks:
    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        jwk_rsa = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key()))
        jwk_ec = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key()))
        jwk_rsa.update(kid="rsa-1", alg="RS256", use="sig")
        jwk_ec.update(kid="ec-1", alg="ES256", use="sig")
        self.body = json.dumps({"keys": [jwk_rsa, jwk_ec]}).encode()
        self.hits = 0
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                jwks.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(jwks.body)))
                self.end_headers()
                self.wfile.write(jwks.body)

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/auth/v1/.well-known/jwks.json"


@pytest.fixture
def jwks(monkeypatch) -> Iterator[_Jwks]:
    server = _Jwks()
    monkeypatch.setenv("SUPABASE_JWKS_URL", server.url)
    reset_settings()
    yield server
    server.server.shutdown()
    monkeypatch.delenv("SUPABASE_JWKS_URL")
    reset_settings()


def test_es256_and_rs256_through_jwks(client, user, jwks):
    es = jwt.encode(claims(user.id), jwks.ec, algorithm="ES256", headers={"kid": "ec-1"})
    rs = jwt.encode(claims(user.id), jwks.rsa, algorithm="RS256", headers={"kid": "rsa-1"})
    assert me(client, es).status_code == 200
    assert me(client, rs).status_code == 200
    assert me(client, es).status_code == 200
    assert jwks.hits == 1  # the key set is cached


def test_unknown_kid_and_mismatched_alg(client, user, jwks):
    other = ec.generate_private_key(ec.SECP256R1())
    assert_problem(me(client, jwt.encode(claims(user.id), other, algorithm="ES256", headers={"kid": "nope"})), 401)
    # An RS256 header pointing at the EC key must not verify.
    assert_problem(me(client, jwt.encode(claims(user.id), jwks.rsa, algorithm="RS256", headers={"kid": "ec-1"})), 401)


def test_hs_rs_confusion(client, user, jwks):
    """An HS256 token 'signed' with the RSA public key (the classic confusion) is refused."""
    pem = jwks.rsa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode()).rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(claims(user.id)).encode()).rstrip(b"=")
    import hashlib
    import hmac

    sig = base64.urlsafe_b64encode(hmac.new(pem, header + b"." + payload, hashlib.sha256).digest()).rstrip(b"=")
    assert_problem(me(client, (header + b"." + payload + b"." + sig).decode()), 401)


def test_dev_sign_in_refused_in_production(client, monkeypatch):
    monkeypatch.setenv("OPENAGENTS_ENV", "production")
    reset_settings()
    try:
        assert_problem(client.post("/api/dev/sign-in", json_body={"email": "p@test.dev"}), 404)
    finally:
        monkeypatch.setenv("OPENAGENTS_ENV", "test")
        reset_settings()


def test_token_for_deleted_user_has_no_profile(client):
    token = jwt.encode(claims(str(uuid.uuid4())), SECRET, algorithm="HS256")
    assert_problem(me(client, token), 404)


def test_dev_sign_in_is_rate_limited(client):
    email = f"rl-{uuid.uuid4().hex[:8]}@test.dev"
    # 30 a minute: within 61 requests a 429 must come even if a window boundary falls in between.
    for i in range(61):  # noqa: B007 - i is read after the loop
        resp = client.post("/api/dev/sign-in", json_body={"email": email})
        if resp.status_code == 429:
            break
        assert resp.status_code == 200
    body = assert_problem(resp, 429)
    assert i >= 30 and body["type"].endswith("/rate-limited") and int(resp.headers["Retry-After"]) >= 1
