"""Knowledge: loading, chunking, embedding, indexing and searching documents, and evidence."""

import asyncpg

from activities.knowledge.chunking import Chunk, chunk_document
from activities.knowledge.embedding_cache import EmbeddingCache
from activities.knowledge.embeddings import LocalEmbedder, TextEmbedder
from activities.knowledge.engines import open_embedder
from activities.knowledge.evidence import attach_quotes
from activities.knowledge.index import DocumentChunks, KnowledgeIndex, SearchMode
from activities.llm.pricing import PriceTable
from aios.config import Settings
from aios.stores.embedding_cache import EmbeddingCacheStore
from aios.stores.vectors import VectorStore

__all__ = [
    "Chunk",
    "DocumentChunks",
    "EmbeddingCache",
    "KnowledgeIndex",
    "LocalEmbedder",
    "SearchMode",
    "TextEmbedder",
    "attach_quotes",
    "chunk_document",
    "embedder_for",
    "open_embedder",
    "open_knowledge",
]


def open_knowledge(
    settings: Settings,
    vectors: VectorStore,
    embedder: TextEmbedder | None = None,
    pool: asyncpg.Pool | None = None,
) -> KnowledgeIndex:
    """The knowledge index as the settings describe it (the API and the workers open it alike);
    with a pool and `AIOS_EMBEDDING_CACHE` on, documents' vectors go through the embedding cache."""
    cache = None
    if pool is not None and settings.embedding_cache:
        cache = EmbeddingCache(EmbeddingCacheStore(pool))
    return KnowledgeIndex(
        vectors,
        embedder or embedder_for(settings),
        collection_prefix=settings.collection,
        keyword_weight=settings.keyword_weight,
        cache=cache,
    )


def embedder_for(settings: Settings) -> TextEmbedder:
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return open_embedder(
        settings.embedding_model,
        precision=settings.embedding_precision,
        batch_size=settings.embedding_batch_size,
        openai_api_key=key,
        openai_base_url=settings.openai_base_url,
        engine=settings.embedding_engine,
        models_dir=settings.resolved_data_dir / "models",
        prices=PriceTable(settings.model_prices),
    )
