"""API keys and the per-key request counters behind rate limits."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from aios.db import transient_on_connection_loss

KEY_PREFIX = "aios_live_"


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    prefix: str
    tenant: str
    user_id: str
    roles: list[str]
    name: str
    rate_per_minute: int | None
    max_concurrent_runs: int | None
    created_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


_COLUMNS = (
    "id, prefix, tenant, user_id, roles, name, rate_per_minute, max_concurrent_runs, created_at,"
    " revoked_at, last_used_at"
)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def create(
        self,
        *,
        tenant: str,
        user_id: str,
        roles: list[str],
        name: str = "",
        rate_per_minute: int | None = None,
        max_concurrent_runs: int | None = None,
    ) -> tuple[str, ApiKeyRecord]:
        """A new key (the only time it is ever shown) and its record."""
        prefix = secrets.token_hex(4)
        key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        row = await self._pool.fetchrow(
            "INSERT INTO api_keys (id, prefix, sha256, tenant, user_id, roles, name,"
            " rate_per_minute, max_concurrent_runs) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            f" RETURNING {_COLUMNS}",
            f"key_{prefix}",
            prefix,
            _digest(key),
            tenant,
            user_id,
            roles,
            name,
            rate_per_minute,
            max_concurrent_runs,
        )
        return key, ApiKeyRecord(**dict(row))

    @transient_on_connection_loss
    async def verify(self, key: str) -> ApiKeyRecord | None:
        """The live key this string is, or None."""
        if not key.startswith(KEY_PREFIX):
            return None
        prefix = key[len(KEY_PREFIX) :].split("_", 1)[0]
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS}, sha256 FROM api_keys WHERE prefix = $1 AND revoked_at IS NULL",
            prefix,
        )
        if row is None or not hmac.compare_digest(row["sha256"], _digest(key)):
            return None
        values = dict(row)
        values.pop("sha256")
        return ApiKeyRecord(**values)

    @transient_on_connection_loss
    async def list(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM api_keys WHERE $1::text IS NULL OR tenant = $1"
            " ORDER BY created_at",
            tenant,
        )
        return [ApiKeyRecord(**dict(r)) for r in rows]

    @transient_on_connection_loss
    async def revoke(self, key_id: str, tenant: str | None = None) -> bool:
        status = await self._pool.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL"
            " AND ($2::text IS NULL OR tenant = $2)",
            key_id,
            tenant,
        )
        return bool(status.endswith(" 1"))

    @transient_on_connection_loss
    async def count_request(self, key_id: str, window_start: datetime) -> int:
        """Count one request in the key's current minute; the count so far (every API process
        shares it). The first request of a minute also cleans up the old windows and records
        when the key was last used (to the minute), so most requests cost one statement."""
        async with self._pool.acquire() as conn:
            count: int = await conn.fetchval(
                "INSERT INTO rate_counters (key_id, window_start, count) VALUES ($1, $2, 1)"
                " ON CONFLICT (key_id, window_start) DO UPDATE"
                " SET count = rate_counters.count + 1 RETURNING count",
                key_id,
                window_start,
            )
            if count == 1:
                await conn.execute(
                    "DELETE FROM rate_counters WHERE key_id = $1 AND window_start < $2",
                    key_id,
                    window_start,
                )
                await conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = $1", key_id)
            return count
