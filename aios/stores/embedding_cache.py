"""The embedding cache's SQL: vectors per tenant, embedding model identity and text hash.

What is cached and when is activities/knowledge/embedding_cache.py; this store only keeps and
finds rows. A vector is stored as little-endian float32 bytes (384 floats: 1.5 KiB a chunk).
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Mapping, Sequence
from datetime import datetime

import asyncpg

from aios.db import transient_on_connection_loss


def _pack(vector: Sequence[float]) -> bytes:
    packed = array("f", vector)
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tobytes()


def _unpack(data: bytes) -> list[float]:
    unpacked = array("f")
    unpacked.frombytes(data)
    if sys.byteorder != "little":
        unpacked.byteswap()
    return unpacked.tolist()


class EmbeddingCacheStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def get_many(
        self, tenant: str, model: str, hashes: Sequence[bytes]
    ) -> dict[bytes, list[float]]:
        """The cached vectors among `hashes`, by hash."""
        if not hashes:
            return {}
        rows = await self._pool.fetch(
            "SELECT text_sha256, vector FROM embedding_cache"
            " WHERE tenant = $1 AND model = $2 AND text_sha256 = ANY($3::bytea[])",
            tenant,
            model,
            list(hashes),
        )
        return {bytes(r["text_sha256"]): _unpack(r["vector"]) for r in rows}

    @transient_on_connection_loss
    async def put_many(
        self, tenant: str, model: str, vectors: Mapping[bytes, Sequence[float]]
    ) -> None:
        """Keep vectors; one already kept under the same key stays (it is the same vector)."""
        if not vectors:
            return
        await self._pool.execute(
            "INSERT INTO embedding_cache (tenant, model, text_sha256, vector)"
            " SELECT $1, $2, h, v FROM unnest($3::bytea[], $4::bytea[]) AS t(h, v)"
            " ON CONFLICT DO NOTHING",
            tenant,
            model,
            list(vectors),
            [_pack(v) for v in vectors.values()],
        )

    @transient_on_connection_loss
    async def count_use(self, tenant: str, model: str, hits: int, misses: int) -> None:
        """Count what one lookup found cached and what it embedded, in the hour's row."""
        await self._pool.execute(
            "INSERT INTO embedding_cache_uses (tenant, model, hour, hits, misses)"
            " VALUES ($1, $2, date_trunc('hour', now()), $3, $4)"
            " ON CONFLICT (tenant, hour, model) DO UPDATE SET"
            " hits = embedding_cache_uses.hits + excluded.hits,"
            " misses = embedding_cache_uses.misses + excluded.misses",
            tenant,
            model,
            hits,
            misses,
        )

    @transient_on_connection_loss
    async def usage(self, tenant: str, *, start: datetime, end: datetime) -> tuple[int, int]:
        """Texts found cached and texts embedded for `tenant` in the hours that overlap
        [start, end)."""
        row = await self._pool.fetchrow(
            "SELECT coalesce(sum(hits), 0) AS hits, coalesce(sum(misses), 0) AS misses"
            " FROM embedding_cache_uses"
            " WHERE tenant = $1 AND hour >= date_trunc('hour', $2::timestamptz) AND hour < $3",
            tenant,
            start,
            end,
        )
        return (int(row["hits"]), int(row["misses"])) if row else (0, 0)

    @transient_on_connection_loss
    async def prune(self, older_than: datetime) -> int:
        """Forget vectors kept before `older_than`; how many."""
        status = await self._pool.execute(
            "DELETE FROM embedding_cache WHERE created_at < $1", older_than
        )
        return int(status.split()[-1])
