"""Stores: the one place AIOS talks SQL (besides the migrations) and opens Qdrant.

Activities, tools and API routes call these classes; they never write SQL themselves, so the API
and the workers can never disagree about a query. Each store takes the asyncpg pool it works on.
"""

from typing import TYPE_CHECKING, Any

from aios.stores.artifacts import ArtifactStore
from aios.stores.documents import DocumentRecord, DocumentStore
from aios.stores.reports import Report, ReportStore, report_id_for
from aios.stores.runs import RunSnapshotStore
from aios.stores.tool_effects import Effect, ToolEffectStore

if TYPE_CHECKING:
    from aios.stores.vectors import VectorStore, open_vectors

__all__ = [
    "ArtifactStore",
    "DocumentRecord",
    "DocumentStore",
    "Effect",
    "Report",
    "ReportStore",
    "RunSnapshotStore",
    "ToolEffectStore",
    "VectorStore",
    "open_vectors",
    "report_id_for",
]


def __getattr__(name: str) -> Any:
    # qdrant-client takes a second or more to import, and most processes that use a store never
    # search (every `aios` CLI call imported it through here): the vector store loads on first use.
    if name in ("VectorStore", "open_vectors"):
        from aios.stores import vectors

        return getattr(vectors, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
