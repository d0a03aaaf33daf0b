"""The embedding cache in PostgreSQL: a text's vector is computed once per tenant and model, and
re-ingesting a document embeds nothing twice."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import httpx

from activities.knowledge import DocumentChunks, KnowledgeIndex, LocalEmbedder, chunk_document
from activities.knowledge.embedding_cache import EmbeddingCache
from aios import telemetry
from aios.stores.embedding_cache import EmbeddingCacheStore
from aios.stores.vectors import EdgeVectorStore


class Counting:
    """The session's embedder, counting the texts it is asked to embed."""

    def __init__(self, inner: LocalEmbedder) -> None:
        self.inner = inner
        self.embedded: list[str] = []

    @property
    def name(self) -> str:
        return self.inner.name

    async def identity(self) -> str:
        return await self.inner.identity()

    async def dimension(self) -> int:
        return await self.inner.dimension()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.embedded += texts
        return await self.inner.embed(texts)


def hits() -> float:
    return float(telemetry.EMBEDDING_CACHE.labels("all-MiniLM-L6-v2", "hit")._value.get())


async def test_the_second_embed_of_a_text_is_a_cache_hit(
    pool: asyncpg.Pool, embedder: LocalEmbedder
) -> None:
    counting = Counting(embedder)
    cache = EmbeddingCache(EmbeddingCacheStore(pool))
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    text = f"The pump needs new seals every year ({tenant})."
    [first] = await cache.embed(counting, tenant, [text])
    before = hits()
    [second, again] = await cache.embed(counting, tenant, [text, text])
    assert counting.embedded == [text]
    assert hits() - before == 2
    assert second == again and max(abs(a - b) for a, b in zip(first, second, strict=True)) < 1e-6
    # Another tenant's cache is its own: the same text is embedded for it (see the module
    # docstring of activities/knowledge/embedding_cache.py for why).
    await cache.embed(counting, f"{tenant}-other", [text])
    assert counting.embedded == [text, text]
    rows = await pool.fetch("SELECT * FROM embedding_cache WHERE tenant = $1", tenant)
    assert len(rows) == 1 and text.encode() not in bytes(rows[0]["vector"])


async def test_reingesting_a_document_embeds_nothing_twice(
    pool: asyncpg.Pool, embedder: LocalEmbedder, tmp_path: Path
) -> None:
    counting = Counting(embedder)
    vectors = EdgeVectorStore(tmp_path / "edge")
    index = KnowledgeIndex(vectors, counting, cache=EmbeddingCache(EmbeddingCacheStore(pool)))
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    sections = [
        f"# Part {n}\n\n" + f"Paragraph {n} of the manual ({tenant}). " * 30 for n in range(3)
    ]
    text = "\n\n".join(sections)

    def document(body: str) -> DocumentChunks:
        return DocumentChunks(tenant, "manual", "manual.md", "Manual", chunk_document(body))

    await index.index([document(text)])
    chunks = len(counting.embedded)
    assert chunks >= 3
    await index.delete_document(tenant, "manual")
    await index.index([document(text)])  # deleted and ingested again: every vector cached
    assert len(counting.embedded) == chunks
    changed = text.replace("Paragraph 2 of", "Paragraph two of")
    await index.index([document(changed)])  # one section changed: only its chunks embedded
    new = counting.embedded[chunks:]
    assert new and all("Paragraph two" in t for t in new)
    hits_found = await index.search(tenant, "paragraph two of the manual", 1)
    assert hits_found and "Paragraph two" in hits_found[0].text
    await vectors.close()


async def test_the_usage_report_shows_the_embedding_caches_hits_to_operators(
    api: httpx.AsyncClient, pool: asyncpg.Pool, embedder: LocalEmbedder
) -> None:
    """GET /v1/usage counts what the cache answered for the tenant's ingestion (by the hour)."""
    before = (await api.get("/v1/usage")).json()["embedding_cache"]
    counting = Counting(embedder)
    cache = EmbeddingCache(EmbeddingCacheStore(pool))
    text = f"The valve is checked every spring ({uuid.uuid4().hex})."
    await cache.embed(counting, "default", [text])
    await cache.embed(counting, "default", [text, text])
    after = (await api.get("/v1/usage")).json()["embedding_cache"]
    assert after["hits"] - before["hits"] == 2 and after["misses"] - before["misses"] == 1
    assert 0 < after["hit_rate"] <= 1
    # Another tenant's ingestion is not in this tenant's report.
    await cache.embed(counting, "elsewhere", [text])
    assert (await api.get("/v1/usage")).json()["embedding_cache"] == after
