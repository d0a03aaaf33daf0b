"""The embedding cache: a document chunk's vector is kept in PostgreSQL under its tenant, the
embedder's identity (model, engine, model files) and the SHA-256 of the exact text embedded, so a
text re-ingested (a re-upload, a changed document's unchanged chunks, the same page fetched again)
is embedded once. Workflows never see it: it sits inside the ingestion activity's indexing.

Per tenant, although a vector is a pure function of the text: a shared cache would answer one
tenant's text faster when another tenant had ingested it, and that difference in time would tell a
tenant whether someone else holds a given text. The cache keeps no text, only hashes and vectors.
Searches do not use it (a query is embedded once and a round trip to PostgreSQL would only slow it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from activities.knowledge.embeddings import TextEmbedder
from aios import telemetry
from aios.stores.embedding_cache import EmbeddingCacheStore


async def embedder_identity(embedder: TextEmbedder) -> str:
    """What the cache keys vectors by: the embedder's identity when it has one (engine and model
    files included, since two engines' vectors differ slightly), else its model name."""
    identity = getattr(embedder, "identity", None)
    if identity is None:
        return embedder.name
    return str(await identity())


class EmbeddingCache:
    def __init__(self, store: EmbeddingCacheStore) -> None:
        self._store = store

    async def embed(
        self, embedder: TextEmbedder, tenant: str, texts: Sequence[str]
    ) -> list[list[float]]:
        """The vectors of `texts` in order: cached ones read, the others embedded (each distinct
        text once) and kept."""
        if not texts:
            return []
        identity = await embedder_identity(embedder)
        hashes = [hashlib.sha256(text.encode()).digest() for text in texts]
        distinct = dict(zip(hashes, texts, strict=True))
        vectors = await self._store.get_many(tenant, identity, list(distinct))
        missing = [h for h in distinct if h not in vectors]
        if missing:
            fresh = await embedder.embed([distinct[h] for h in missing])
            new = dict(zip(missing, fresh, strict=True))
            await self._store.put_many(tenant, identity, new)
            vectors.update(new)
        telemetry.EMBEDDING_CACHE.labels(embedder.name, "hit").inc(len(texts) - len(missing))
        telemetry.EMBEDDING_CACHE.labels(embedder.name, "miss").inc(len(missing))
        # For the usage report (GET /v1/usage): the tenant's hits and misses by the hour.
        await self._store.count_use(tenant, embedder.name, len(texts) - len(missing), len(missing))
        return [vectors[h] for h in hashes]
