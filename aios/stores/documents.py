"""Documents of the knowledge base (one row per source per tenant); their chunks live in Qdrant."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from aios.db import transient_on_connection_loss


@dataclass(frozen=True)
class DocumentRecord:
    id: str
    tenant: str
    source: str
    title: str
    sha256: str
    chunk_count: int


class DocumentStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def get(self, document_id: str) -> DocumentRecord | None:
        row = await self._pool.fetchrow(
            "SELECT id, tenant, source, title, sha256, chunk_count FROM documents WHERE id = $1",
            document_id,
        )
        return DocumentRecord(**dict(row)) if row is not None else None

    @transient_on_connection_loss
    async def upsert(self, document: DocumentRecord) -> None:
        await self._pool.execute(
            "INSERT INTO documents (id, tenant, source, title, sha256, chunk_count)"
            " VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (id) DO UPDATE SET title = $4, sha256 = $5, chunk_count = $6,"
            " updated_at = now()",
            document.id,
            document.tenant,
            document.source,
            document.title,
            document.sha256,
            document.chunk_count,
        )
