"""What retrieval finds and answers cite: passages of the knowledge base, the quotes that support
a query, and citations pointing back at them.

The `retrieve` step's output, the context engine's documents and a run's citations are the same
passages, so they are one set of models.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, computed_field

# How much of a passage a citation or search result quotes.
SNIPPET_CHARS = 240


def snippet_of(text: str) -> str:
    """The first SNIPPET_CHARS characters of `text` with its whitespace folded."""
    return " ".join(text.split())[:SNIPPET_CHARS]


class Citation(BaseModel):
    # The number the answer cites this source by (`[n]`), when it was numbered.
    n: int | None = None
    source: str
    title: str = ""
    document_id: str = ""
    chunk_id: str = ""
    snippet: str = ""
    score: float = 0.0


class Passage(BaseModel):
    """A piece of a source: what retrieval returns, what the context engine puts in a prompt,
    and what a citation points at."""

    source: str
    title: str = ""
    document_id: str = ""
    chunk_id: str = ""
    text: str = ""
    score: float = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def snippet(self) -> str:
        return snippet_of(self.text)

    def citation(self) -> Citation:
        return Citation(
            source=self.source,
            title=self.title,
            document_id=self.document_id,
            chunk_id=self.chunk_id,
            snippet=self.snippet,
            score=self.score,
        )


class Quote(BaseModel):
    """A sentence of a chunk, verbatim: `chunk text[start:end] == text`. Evidence a reader can
    check, ranked by how well it supports the query."""

    text: str
    chunk_id: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    score: float = 0.0


class SourcePassages(BaseModel):
    """The passages retrieved from one source, best first, and (when asked for) the sentences
    that best support the query."""

    source: str
    title: str = ""
    document_id: str = ""
    chunks: list[Passage] = Field(default_factory=list)
    quotes: list[Quote] = Field(default_factory=list)


class RetrieveOutput(BaseModel):
    """Output of a `retrieve` step: every passage, and the same grouped per source (plans fan out
    over `sources` to work per source)."""

    query: str
    chunks: list[Passage] = Field(default_factory=list)
    sources: list[SourcePassages] = Field(default_factory=list)
