"""Artifacts: serialized Temporal payloads over the size threshold, stored once by content hash."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from aios.db import transient_on_connection_loss


@dataclass(frozen=True)
class Artifact:
    id: str  # "sha256:<hex>" of `data`: identical payloads share a row
    data: bytes
    workflow_id: str | None = None


class ArtifactStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def put_many(self, artifacts: Sequence[Artifact]) -> None:
        async with self._pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO artifacts (id, size_bytes, payload, workflow_id)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                [(a.id, len(a.data), a.data, a.workflow_id) for a in artifacts],
            )

    @transient_on_connection_loss
    async def get_many(self, ids: Sequence[str]) -> dict[str, bytes]:
        """The payloads found, by id; missing ids are absent from the answer."""
        rows = await self._pool.fetch(
            "SELECT id, payload FROM artifacts WHERE id = ANY($1)", list(ids)
        )
        return {r["id"]: bytes(r["payload"]) for r in rows}
