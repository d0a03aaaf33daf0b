"""Side effects of tools, keyed by the step's idempotency key, so a retried or replayed step never
repeats an effect that already happened."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from aios.db import transient_on_connection_loss

# An effect runs on the connection of the transaction that records it.
Effect = Callable[[asyncpg.Connection], Awaitable[dict[str, Any]]]


class ToolEffectStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def once(
        self, idempotency_key: str, tool: str, tenant: str, effect: Effect
    ) -> dict[str, Any]:
        """Run `effect` at most once per idempotency key, in one transaction with the record of
        it; a repeat returns the first result (with `"replayed": true`) without running it."""
        async with self._pool.acquire() as conn, conn.transaction():
            claimed = await conn.fetchval(
                "INSERT INTO tool_effects (idempotency_key, tool, tenant, result)"
                " VALUES ($1, $2, $3, 'null'::jsonb) ON CONFLICT DO NOTHING RETURNING 1",
                idempotency_key,
                tool,
                tenant,
            )
            if claimed is None:
                previous = await conn.fetchval(
                    "SELECT result FROM tool_effects WHERE idempotency_key = $1", idempotency_key
                )
                result: dict[str, Any] = json.loads(previous)
                return {**result, "replayed": True}
            result = await effect(conn)
            await conn.execute(
                "UPDATE tool_effects SET result = $2::jsonb WHERE idempotency_key = $1",
                idempotency_key,
                json.dumps(result),
            )
            return result
