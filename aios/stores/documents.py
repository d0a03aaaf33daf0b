"""Documents of the knowledge base (one row per source per tenant; their chunks live in Qdrant),
and uploaded bodies waiting to be ingested."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from aios.db import transient_on_connection_loss

_COLUMNS = (
    "id, tenant, source, title, sha256, chunk_count, metadata, content_type, size_bytes, job_id,"
    " created_at, updated_at"
)


_UPSERT = (
    "INSERT INTO documents (id, tenant, source, title, sha256, chunk_count, metadata,"
    " content_type, size_bytes, job_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    " ON CONFLICT (id) DO UPDATE SET title = $4, sha256 = $5, chunk_count = $6,"
    " metadata = $7, content_type = $8, size_bytes = $9, job_id = $10, updated_at = now()"
)


@dataclass(frozen=True)
class DocumentRecord:
    id: str
    tenant: str
    source: str
    title: str
    sha256: str
    chunk_count: int
    metadata: dict[str, Any] = field(default_factory=dict)
    content_type: str | None = None
    size_bytes: int = 0
    job_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> DocumentRecord:
        values = dict(row)
        values["metadata"] = json.loads(values["metadata"] or "{}")
        return cls(**values)


def _upsert_args(document: DocumentRecord) -> tuple[Any, ...]:
    return (
        document.id,
        document.tenant,
        document.source,
        document.title,
        document.sha256,
        document.chunk_count,
        json.dumps(document.metadata),
        document.content_type,
        document.size_bytes,
        document.job_id,
    )


class DocumentStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def get(self, tenant: str, document_id: str) -> DocumentRecord | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM documents WHERE tenant = $1 AND id = $2", tenant, document_id
        )
        return DocumentRecord.from_row(row) if row is not None else None

    @transient_on_connection_loss
    async def get_many(self, tenant: str, ids: Sequence[str]) -> dict[str, DocumentRecord]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM documents WHERE tenant = $1 AND id = ANY($2)",
            tenant,
            list(ids),
        )
        return {r["id"]: DocumentRecord.from_row(r) for r in rows}

    @transient_on_connection_loss
    async def page(self, tenant: str, *, limit: int, after: str | None) -> list[DocumentRecord]:
        """Documents in id order, starting after `after` (keyset pagination: stable under
        concurrent inserts)."""
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM documents WHERE tenant = $1 AND ($2::text IS NULL OR id > $2)"
            " ORDER BY id LIMIT $3",
            tenant,
            after,
            limit,
        )
        return [DocumentRecord.from_row(r) for r in rows]

    @transient_on_connection_loss
    async def upsert(self, document: DocumentRecord) -> None:
        await self._pool.execute(_UPSERT, *_upsert_args(document))

    @transient_on_connection_loss
    async def upsert_many(self, documents: Sequence[DocumentRecord]) -> None:
        """Several records in one transaction (an ingestion batch's: one commit, the statements
        pipelined, instead of a round trip and a commit per document)."""
        if not documents:
            return
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.executemany(_UPSERT, [_upsert_args(d) for d in documents])

    @transient_on_connection_loss
    async def delete(self, tenant: str, document_id: str) -> bool:
        status = await self._pool.execute(
            "DELETE FROM documents WHERE tenant = $1 AND id = $2", tenant, document_id
        )
        return bool(status.endswith(" 1"))

    # --- uploads waiting for ingestion ---------------------------------------------------------

    @transient_on_connection_loss
    async def put_uploads(self, tenant: str, bodies: dict[str, bytes]) -> None:
        """Store bodies by their sha256 (hex); a body already waiting is kept as it is."""
        async with self._pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO document_uploads (tenant, sha256, data) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING",
                [(tenant, sha, data) for sha, data in bodies.items()],
            )

    @transient_on_connection_loss
    async def get_uploads(self, tenant: str, shas: Sequence[str]) -> dict[str, bytes]:
        rows = await self._pool.fetch(
            "SELECT sha256, data FROM document_uploads WHERE tenant = $1 AND sha256 = ANY($2)",
            tenant,
            list(shas),
        )
        return {r["sha256"]: bytes(r["data"]) for r in rows}

    @transient_on_connection_loss
    async def drop_uploads(self, tenant: str, shas: Sequence[str]) -> None:
        await self._pool.execute(
            "DELETE FROM document_uploads WHERE tenant = $1 AND sha256 = ANY($2)",
            tenant,
            list(shas),
        )


def document_id_for(tenant: str, source: str) -> str:
    """A document's id follows from its tenant and source: re-sending a source replaces it."""
    return "doc-" + hashlib.sha256(f"{tenant}\0{source}".encode()).hexdigest()[:24]
