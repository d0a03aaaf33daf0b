"""Bearer JWTs issued by an identity provider, next to AIOS's own API keys.

A token is verified against the key set in `AIOS_JWT_KEYS_FILE` (a JWKS document, as identity
providers publish at `/.well-known/jwks.json`), by the key its header names (`kid`), with the
algorithms of asymmetric keys only: `none` and shared-secret HMAC tokens are refused, so nobody
holding the public key set can mint a token.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import jwt

from aios.config import Settings
from aios.errors import ConfigurationError, Unauthorized

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]


def looks_like_jwt(token: str) -> bool:
    """Three base64url parts; API keys (`aios_…`) never contain a dot."""
    return token.count(".") == 2


@lru_cache(maxsize=4)
def _key_set(path: Path, modified_ns: int) -> jwt.PyJWKSet:
    """The key set, read again when the file changes (key rotation without a restart)."""
    try:
        return jwt.PyJWKSet.from_json(path.read_text())
    except (OSError, jwt.PyJWTError) as e:
        raise ConfigurationError(f"cannot read the JWT key set {path}: {e}") from e


def verify_jwt(token: str, settings: Settings) -> tuple[str, str, frozenset[str], str]:
    """(tenant, user, roles, rate-limit id) of a valid token; Unauthorized with the reason
    otherwise (expired, wrong audience, unknown key, missing tenant)."""
    path = settings.jwt_keys_file
    if path is None:
        raise Unauthorized("JWTs are not accepted here (no AIOS_JWT_KEYS_FILE); use an API key")
    try:
        keys = _key_set(path, path.stat().st_mtime_ns)
    except OSError as e:
        raise ConfigurationError(f"cannot read the JWT key set {path}: {e}") from e
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        matching = [k for k in keys.keys if kid is None or k.key_id == kid]
        if not matching:
            raise Unauthorized(f"the token was signed with an unknown key ({kid!r})")
        claims = jwt.decode(
            token,
            key=matching[0],
            algorithms=ALGORITHMS,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={
                "require": ["exp", "sub"],
                "verify_aud": settings.jwt_audience is not None,
            },
        )
    except jwt.PyJWTError as e:
        raise Unauthorized(f"the token is not valid: {e}") from None
    tenant = claims.get(settings.jwt_tenant_claim)
    if not isinstance(tenant, str) or not tenant:
        raise Unauthorized(f"the token has no {settings.jwt_tenant_claim!r} claim (the tenant)")
    raw_roles = claims.get(settings.jwt_roles_claim) or []
    roles = (
        frozenset(r for r in raw_roles if isinstance(r, str))
        if isinstance(raw_roles, list)
        else frozenset({str(raw_roles)})
    )
    subject = str(claims["sub"])
    # Rate counters are per caller: one id per issuer and subject (hashed: it is logged).
    caller = hashlib.sha256(f"{claims.get('iss')}|{subject}".encode()).hexdigest()[:16]
    return tenant, subject, roles or frozenset({"user"}), f"jwt_{caller}"
