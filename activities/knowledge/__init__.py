"""Knowledge: loading, chunking, embedding, indexing and searching documents, and evidence."""

from activities.knowledge.chunking import Chunk, chunk_document
from activities.knowledge.embeddings import LocalEmbedder, TextEmbedder, open_embedder
from activities.knowledge.evidence import attach_quotes
from activities.knowledge.index import DocumentChunks, KnowledgeIndex, SearchMode
from aios.config import Settings
from aios.stores.vectors import VectorStore

__all__ = [
    "Chunk",
    "DocumentChunks",
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
    settings: Settings, vectors: VectorStore, embedder: TextEmbedder | None = None
) -> KnowledgeIndex:
    """The knowledge index as the settings describe it (the API and the workers open it alike)."""
    return KnowledgeIndex(
        vectors,
        embedder or embedder_for(settings),
        collection_prefix=settings.collection,
        keyword_weight=settings.keyword_weight,
    )


def embedder_for(settings: Settings) -> TextEmbedder:
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return open_embedder(
        settings.embedding_model,
        precision=settings.embedding_precision,
        batch_size=settings.embedding_batch_size,
        openai_api_key=key,
        openai_base_url=settings.openai_base_url,
    )
