"""Search over the caller's documents: the same path as `retrieve` steps and the `rag_search`
tool (`activities.rag.retrieve`), always filtered by the caller's tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from activities.knowledge import SearchMode
from activities.llm.caller import spending
from activities.rag import RetrieveArgs, retrieve
from aios.models import Quote
from aios.stores.ledger import LedgerStore
from api.deps import DbDep, KnowledgeDep, PrincipalDep
from api.examples import example

router = APIRouter(prefix="/v1/search", tags=["search"])


class SearchResult(BaseModel):
    document_id: str
    source: str
    title: str
    chunk_id: str
    snippet: str
    score: float
    text: str | None = None
    quotes: list[Quote] | None = None


class SearchResults(BaseModel):
    query: str
    mode: SearchMode
    results: list[SearchResult]


@router.get(
    "",
    response_model=SearchResults,
    response_model_exclude_none=True,
    responses=example(
        {
            "query": "how often are pumps inspected",
            "mode": "hybrid",
            "results": [
                {
                    "document_id": "doc-3f9a1c2e8b7d4a6f0e5c1b2a",
                    "source": "handbook/pumps.md",
                    "title": "Pump maintenance",
                    "chunk_id": "doc-3f9a1c2e8b7d4a6f0e5c1b2a#3",
                    "snippet": "Each pump is inspected monthly; bearings are greased every …",
                    "score": 0.0323,
                    "quotes": [
                        {
                            "text": "Each pump is inspected monthly",
                            "chunk_id": "doc-3f9a1c2e8b7d4a6f0e5c1b2a#3",
                            "start": 0,
                            "end": 30,
                            "score": 0.81,
                        }
                    ],
                }
            ],
        }
    ),
)
async def search(
    principal: PrincipalDep,
    knowledge: KnowledgeDep,
    pool: DbDep,
    q: Annotated[str, Query(min_length=1, max_length=4000, description="what to look for")],
    k: Annotated[int, Query(ge=1, le=200, description="how many chunks")] = 10,
    mode: SearchMode = SearchMode.HYBRID,
    quotes: Annotated[
        int, Query(ge=0, le=10, description="verbatim supporting sentences per document")
    ] = 0,
    full_text: Annotated[bool, Query(description="include each chunk's whole text")] = False,
) -> SearchResults:
    """The best chunks for `q`: `hybrid` fuses meaning (dense vectors) and keywords (BM25);
    `dense` and `keyword` use one of them. With `quotes=N`, each result also carries the N
    sentences of its document's retrieved chunks that best support the query, verbatim, with
    character offsets into the chunk."""
    # A paid embedding model's requests are charged to the caller (402 over a cap).
    with spending(
        LedgerStore(pool),
        tenant=principal.tenant,
        user_id=principal.user_id,
        key_id=principal.key_id,
    ):
        output = await retrieve(
            knowledge,
            principal.tenant,
            RetrieveArgs(query=q, k=k, max_sources=k, mode=mode, quotes=quotes),
        )
    quotes_by_document = {s.document_id: s.quotes for s in output.sources}
    seen: set[str] = set()
    results = []
    for chunk in output.chunks:
        first_of_document = chunk.document_id not in seen
        seen.add(chunk.document_id)
        results.append(
            SearchResult(
                document_id=chunk.document_id,
                source=chunk.source,
                title=chunk.title,
                chunk_id=chunk.chunk_id,
                snippet=chunk.snippet,
                score=chunk.score,
                text=chunk.text if full_text else None,
                quotes=quotes_by_document.get(chunk.document_id)
                if quotes and first_of_document
                else None,
            )
        )
    return SearchResults(query=q, mode=mode, results=results)
