"""Bearer JWTs from an identity provider: verified against a key set file, bound to the tenant and
roles their claims name, refused with the reason when anything is off."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import Stack, api_client, app_for


def _key_set(tmp_path: Path) -> tuple[ec.EllipticCurvePrivateKey, Path]:
    private = ec.generate_private_key(ec.SECP256R1())
    public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{**public_jwk, "kid": "idp-1", "alg": "ES256"}]}))
    return private, path


def _token(private: Any, **claims: Any) -> str:
    body = {
        "sub": "ada",
        "tenant": "jwt-acme",
        "roles": ["user"],
        "exp": time.time() + 300,
        **claims,
    }
    body.setdefault("iss", "https://idp.example")
    body.setdefault("aud", "aios")
    return jwt.encode(body, private, algorithm="ES256", headers={"kid": "idp-1"})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_valid_jwt_acts_as_its_tenant_and_user(stack: Stack, tmp_path: Path) -> None:
    private, jwks = _key_set(tmp_path)
    settings = stack.settings.model_copy(
        update={"jwt_keys_file": jwks, "jwt_issuer": "https://idp.example", "jwt_audience": "aios"}
    )
    plan = {"steps": [{"id": "e", "kind": "tool", "tool": "echo", "args": {"value": 1}}]}
    async with api_client(app_for(stack, settings=settings)) as api:
        started = await api.post(
            "/v1/runs", json={"goal": "jwt run", "plan": plan}, headers=_bearer(_token(private))
        )
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        mine = await api.get(f"/v1/runs/{run_id}", headers=_bearer(_token(private)))
        assert mine.status_code == 200 and mine.json()["user_id"] == "ada"
        other_tenant = _token(private, tenant="jwt-globex", sub="hank")
        assert (
            await api.get(f"/v1/runs/{run_id}", headers=_bearer(other_tenant))
        ).status_code == 404
        # Not an admin by its claims.
        assert (await api.get("/v1/keys", headers=_bearer(_token(private)))).status_code == 403

        for bad, reason in [
            (_token(private, exp=time.time() - 10), "expired"),
            (_token(private, aud="someone-else"), "audience"),
            (_token(private, iss="https://evil.example"), "issuer"),
            (_token(private, tenant=None), "tenant"),
            (_token(ec.generate_private_key(ec.SECP256R1())), "Signature"),
            (
                jwt.encode({"sub": "x", "tenant": "jwt-acme", "exp": time.time() + 60}, "s" * 32),
                "alg",
            ),
        ]:
            refused = await api.get("/v1/runs", headers=_bearer(bad))
            assert refused.status_code == 401, (reason, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
            assert reason.lower() in refused.json()["detail"].lower(), refused.json()


async def test_without_a_key_set_jwts_are_refused_plainly(stack: Stack, tmp_path: Path) -> None:
    private, _ = _key_set(tmp_path)
    async with api_client(app_for(stack)) as api:
        refused = await api.get("/v1/runs", headers=_bearer(_token(private)))
    assert refused.status_code == 401 and "AIOS_JWT_KEYS_FILE" in refused.json()["detail"]
