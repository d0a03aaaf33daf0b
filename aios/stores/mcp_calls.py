"""The journal of MCP calls with side effects on servers that take no idempotency key
(activities/tools/mcp_tools.py): written before a call is sent, so a later attempt knows whether
the call may have reached the server."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from aios.db import transient_on_connection_loss

Status = Literal["send", "done", "failed", "in_doubt"]


@dataclass(frozen=True)
class Journalled:
    """What to do with a call: `send` it (journalled as sending now), or its earlier outcome:
    `done` (with the result), `failed` (with the error) or `in_doubt` (nobody knows)."""

    status: Status
    result: dict[str, Any] | None = None
    error: str | None = None


class McpCallStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def begin(
        self, key: str, tenant: str, tool: str, args_sha256: str, *, resend: bool
    ) -> Journalled:
        """Journal the call as sending, unless an earlier attempt did: a call it left `sending`
        is in doubt from now on (it may have reached the server), and stays so until a person
        asks to send it again (`resend`)."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT status, result, error FROM mcp_calls WHERE idempotency_key = $1 FOR UPDATE",
                key,
            )
            if row is None:
                await conn.execute(
                    "INSERT INTO mcp_calls (idempotency_key, tenant, tool, args_sha256, status)"
                    " VALUES ($1, $2, $3, $4, 'sending')",
                    key,
                    tenant,
                    tool,
                    args_sha256,
                )
                return Journalled("send")
            status = row["status"]
            if status == "done":
                return Journalled("done", result=json.loads(row["result"]))
            if status == "failed":
                return Journalled("failed", error=row["error"])
            if status == "in_doubt" and resend:
                await self._set(conn, key, "sending", None)
                return Journalled("send")
            if status == "sending":
                await self._set(conn, key, "in_doubt", "an earlier attempt did not finish")
            return Journalled("in_doubt", error=row["error"])

    @transient_on_connection_loss
    async def finish(self, key: str, result: dict[str, Any]) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "UPDATE mcp_calls SET status = 'done', result = $2::jsonb, updated_at = now()"
                " WHERE idempotency_key = $1",
                key,
                json.dumps(result),
            )

    @transient_on_connection_loss
    async def forget(self, key: str) -> None:
        """The call was never sent (the session did not open): as if never journalled."""
        await self._pool.execute(
            "DELETE FROM mcp_calls WHERE idempotency_key = $1 AND status = 'sending'", key
        )

    @transient_on_connection_loss
    async def fail(self, key: str, error: str) -> None:
        async with self._pool.acquire() as conn:
            await self._set(conn, key, "failed", error)

    @staticmethod
    async def _set(conn: asyncpg.Connection, key: str, status: str, error: str | None) -> None:
        await conn.execute(
            "UPDATE mcp_calls SET status = $2, error = $3, updated_at = now()"
            " WHERE idempotency_key = $1",
            key,
            status,
            error,
        )

    @transient_on_connection_loss
    async def in_doubt(self, tenant: str) -> list[dict[str, Any]]:
        """The tenant's calls whose outcome nobody knows (for the operators' view)."""
        rows = await self._pool.fetch(
            "SELECT idempotency_key, tool, created_at, updated_at, error FROM mcp_calls"
            " WHERE tenant = $1 AND status = 'in_doubt' ORDER BY created_at",
            tenant,
        )
        return [dict(r) for r in rows]
