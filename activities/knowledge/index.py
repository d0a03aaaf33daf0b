"""The knowledge index: document chunks in Qdrant with a dense and a keyword (BM25) vector each,
and the one search path that `/v1/search`, `retrieve` steps and the `rag_search` tool share.

One collection per embedding model (`<prefix>__<model>`): vectors of two models are not comparable,
so changing `AIOS_EMBEDDING_MODEL` starts a new collection instead of mixing them. Every tenant's
chunks live in that collection tagged with the tenant, and every read and delete filters on it.

Hybrid search runs the dense and the keyword query inside Qdrant and fuses the two rankings with
weighted reciprocal rank fusion, `Σ w / (60 + rank)` over the best 100 of each. The keyword weight
(1.0 by default) was chosen on SciFact's train split; bench/README.md has the figures.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from activities.knowledge.chunking import Chunk
from activities.knowledge.embedding_cache import EmbeddingCache
from activities.knowledge.embeddings import TextEmbedder, collection_slug
from activities.knowledge.keywords import Bm25Encoder
from aios.models import Passage
from aios.stores.vectors import CollectionSpec, VectorHit, VectorPoint, VectorStore

_POINT_NAMESPACE = uuid.UUID("6f1c2a4e-3b7d-4c59-9e21-8a0d5f7b6c13")


class SearchMode(StrEnum):
    HYBRID = "hybrid"
    DENSE = "dense"
    KEYWORD = "keyword"


@dataclass(frozen=True)
class DocumentChunks:
    """One document, chunked, ready to index."""

    tenant: str
    document_id: str
    source: str
    title: str
    chunks: Sequence[Chunk]
    # How many chunks the previous version had: points past the new count are removed by id.
    previous_chunk_count: int = 0


def chunk_point_id(tenant: str, document_id: str, position: int) -> str:
    """Deterministic, so re-indexing a document overwrites its points instead of adding more."""
    return str(uuid.uuid5(_POINT_NAMESPACE, f"{tenant}/{document_id}/{position}"))


def embedding_input(title: str, heading: str, text: str) -> str:
    """What gets embedded and keyword-indexed for a chunk: its document's title and section
    heading give it context (as BEIR embeds title + text)."""
    parts = [title, heading if heading and heading != title else "", text]
    return "\n".join(p for p in parts if p)


class KnowledgeIndex:
    def __init__(
        self,
        vectors: VectorStore,
        embedder: TextEmbedder,
        *,
        collection_prefix: str = "aios_chunks",
        keyword_weight: float = 1.0,
        bm25: Bm25Encoder | None = None,
        cache: EmbeddingCache | None = None,
    ) -> None:
        self.vectors = vectors
        self.embedder = embedder
        # Documents' chunks only: a search embeds its query directly.
        self.cache = cache
        self.collection = f"{collection_prefix}__{collection_slug(embedder.name)}"
        self.keyword_weight = keyword_weight
        self.bm25 = bm25 or Bm25Encoder()
        self._ready = False
        # Tenants seen with chunks: their searches embed the query without asking first. A
        # tenant not (yet) seen with any is asked each time (one point, no embedding): a
        # deployment's first chat turns do not pay for embedding a question nothing can answer.
        self._tenants_with_chunks: set[str] = set()

    async def ensure_collection(self) -> None:
        if not self._ready:
            await self.vectors.ensure(
                CollectionSpec(
                    name=self.collection,
                    dense_size=await self.embedder.dimension(),
                    sparse=True,
                    keyword_fields=("tenant", "document_id", "source"),
                )
            )
            self._ready = True

    async def index(self, documents: Sequence[DocumentChunks]) -> None:
        """(Re)index documents: their chunks are embedded together (one batched pass), written
        over their previous points, and points beyond the new chunk count are removed."""
        await self.ensure_collection()
        inputs = [
            embedding_input(doc.title, chunk.heading, chunk.text)
            for doc in documents
            for chunk in doc.chunks
        ]
        # The keyword vectors are made while the chunks are embedded (the engine runs outside
        # the interpreter lock; BM25 is Python): the embedding's time covers them.
        embedded, encoded = await asyncio.gather(
            self._embed_documents(documents, inputs),
            asyncio.to_thread(lambda: [self.bm25.document(t) for t in inputs]),
        )
        dense, sparse = iter(embedded), iter(encoded)
        points: list[VectorPoint] = []
        for doc in documents:
            for chunk in doc.chunks:
                keywords = next(sparse)
                points.append(
                    VectorPoint(
                        id=chunk_point_id(doc.tenant, doc.document_id, chunk.position),
                        dense=next(dense),
                        sparse=(keywords.indices, keywords.values),
                        payload={
                            "tenant": doc.tenant,
                            "document_id": doc.document_id,
                            "chunk_id": f"{doc.document_id}#{chunk.position}",
                            "source": doc.source,
                            "title": doc.title,
                            "heading": chunk.heading,
                            "position": chunk.position,
                            "start": chunk.start,
                            "end": chunk.end,
                            "text": chunk.text,
                        },
                    )
                )
        await self.vectors.upsert(self.collection, points)
        await self.vectors.delete_ids(
            self.collection,
            [
                chunk_point_id(doc.tenant, doc.document_id, position)
                for doc in documents
                for position in range(len(doc.chunks), doc.previous_chunk_count)
            ],
        )

    async def _embed_documents(
        self, documents: Sequence[DocumentChunks], inputs: list[str]
    ) -> list[list[float]]:
        """The chunks' vectors in order; through the embedding cache (per tenant) when set."""
        if self.cache is None:
            return await self.embedder.embed(inputs)
        tenants = [doc.tenant for doc in documents for _ in doc.chunks]
        vectors: list[list[float]] = [[] for _ in inputs]
        for tenant in dict.fromkeys(tenants):
            mine = [i for i, t in enumerate(tenants) if t == tenant]
            found = await self.cache.embed(self.embedder, tenant, [inputs[i] for i in mine])
            for i, vector in zip(mine, found, strict=True):
                vectors[i] = vector
        return vectors

    async def chunk_count(self, tenant: str, document_id: str) -> int:
        await self.ensure_collection()
        return await self.vectors.count_where(
            self.collection, {"tenant": tenant, "document_id": document_id}
        )

    async def delete_document(self, tenant: str, document_id: str) -> int:
        """Remove every chunk of the document; how many there were."""
        await self.ensure_collection()
        return await self.vectors.delete_where(
            self.collection, {"tenant": tenant, "document_id": document_id}
        )

    async def delete_tenant(self, tenant: str) -> int:
        await self.ensure_collection()
        return await self.vectors.delete_where(self.collection, {"tenant": tenant})

    async def search(
        self, tenant: str, query: str, k: int, mode: SearchMode = SearchMode.HYBRID
    ) -> list[Passage]:
        """The best `k` chunks of the tenant's documents for `query`, best first."""
        await self.ensure_collection()
        if not await self._has_chunks(tenant):
            return []
        dense = None
        sparse = None
        if mode in (SearchMode.HYBRID, SearchMode.DENSE):
            [dense] = await self.embedder.embed([query])
        if mode in (SearchMode.HYBRID, SearchMode.KEYWORD):
            terms = self.bm25.query(query)
            sparse = (terms.indices, terms.values)
        hits = await self.vectors.search(
            self.collection,
            equals={"tenant": tenant},
            limit=k,
            dense=dense,
            sparse=sparse,
            sparse_weight=self.keyword_weight,
        )
        return [_passage(hit) for hit in hits]

    async def _has_chunks(self, tenant: str) -> bool:
        if tenant in self._tenants_with_chunks:
            return True
        if not await self.vectors.scroll_where(self.collection, {"tenant": tenant}, 1):
            return False
        self._tenants_with_chunks.add(tenant)
        return True


def _passage(hit: VectorHit) -> Passage:
    payload = hit.payload
    return Passage(
        source=payload.get("source", ""),
        title=payload.get("title", ""),
        document_id=payload.get("document_id", ""),
        chunk_id=payload.get("chunk_id", ""),
        text=payload.get("text", ""),
        score=round(hit.score, 6),
    )
