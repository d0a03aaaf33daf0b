"""`aios.research_notes`: the notes a research step keeps of what it read.

For each page read, the passages closest to the question are found (the page is chunked as the
knowledge base chunks documents, and the chunks ranked by their embedding's closeness to the
question), and from them the sentences that best support it, verbatim (`attach_quotes`, as a
`retrieve` step quotes the knowledge base). Knowledge-base sources arrive with their quotes. The
round's notes are written as the run's file `research/notes-<round>.md` (downloadable with
`GET /v1/runs/{id}/files/...`); writing the same notes again changes nothing, so a retried or
replayed round leaves one file.
"""

from __future__ import annotations

from temporalio import activity

from activities.common import classified
from activities.knowledge.chunking import chunk_document
from activities.knowledge.embeddings import TextEmbedder
from activities.knowledge.evidence import attach_quotes
from aios.models import Passage, SourcePassages
from aios.research import (
    MAX_PAGE_CHARS,
    ResearchNotesInput,
    ResearchNotesResult,
    ResearchPage,
)
from aios.stores.ledger import LedgerStore
from aios.stores.run_files import RunFileStore
from aios.vocabulary import Activity

# The passages of a page its quotes are drawn from (and a report is shown).
PASSAGES_PER_PAGE = 2


def notes_path(round_: int) -> str:
    return f"research/notes-{round_}.md"


class ResearchActivities:
    def __init__(
        self, embedder: TextEmbedder, files: RunFileStore, ledger: LedgerStore | None = None
    ) -> None:
        self._embedder = embedder
        self._files = files
        self._ledger = ledger

    @activity.defn(name=Activity.RESEARCH_NOTES)
    @classified
    async def research_notes(self, notes: ResearchNotesInput) -> ResearchNotesResult:
        if self._ledger is not None:
            # A paid embedding model's requests (ranking a page's chunks, quoting them) are
            # reserved against the run, its user and tenant, as a retrieve step's are.
            from activities.llm.caller import activity_account  # the worker's side only

            activity_account(self._ledger, notes.budget, tenant=notes.tenant, user_id=notes.user_id)
        read: list[SourcePassages] = []
        for page in notes.pages:
            # Each page is quoted for the question that found it.
            question = page.question or notes.question
            source = await self._best_passages(question, page)
            await attach_quotes(
                self._embedder,
                question,
                [source],
                per_source=notes.quotes_per_source,
                chunks_per_source=PASSAGES_PER_PAGE,
            )
            read.append(source)
        sources = [s for s in [*read, *notes.found] if s.quotes]
        path = notes_path(notes.round)
        await self._files.put(
            notes.tenant, notes.run_id, path, notes_markdown(notes, sources).encode()
        )
        return ResearchNotesResult(sources=sources, notes_file=path)

    async def _best_passages(self, question: str, page: ResearchPage) -> SourcePassages:
        """The page as a source: its chunks closest to `question`, best first."""
        # A page's text has one block (heading, paragraph, list item) a line: blank lines
        # between them keep a heading from being quoted as part of the sentence after it.
        blocks = (line.strip() for line in page.text[:MAX_PAGE_CHARS].splitlines())
        chunks = chunk_document("\n\n".join(block for block in blocks if block))
        if not chunks:
            return SourcePassages(source=page.url, title=page.title)
        vectors = await self._embedder.embed([question, *(c.text for c in chunks)])
        q = vectors[0]
        ranked = sorted(
            zip(chunks, vectors[1:], strict=True),
            key=lambda pair: -sum(a * b for a, b in zip(q, pair[1], strict=True)),
        )
        return SourcePassages(
            source=page.url,
            title=page.title,
            chunks=[
                Passage(
                    source=page.url,
                    title=page.title,
                    chunk_id=f"{page.url}#{chunk.position}",
                    text=chunk.text,
                )
                for chunk, _vector in ranked[:PASSAGES_PER_PAGE]
            ],
        )


def notes_markdown(notes: ResearchNotesInput, sources: list[SourcePassages]) -> str:
    """A round's notes for a person: each source with its verbatim quotes."""
    lines = [f"# Research notes, round {notes.round}", "", f"Question: {notes.question}", ""]
    if not sources:
        lines.append("Nothing quotable was found this round.")
    for source in sources:
        lines += [f"## {source.title or source.source}", "", f"<{source.source}>", ""]
        lines += [f"> {quote.text}" for quote in source.quotes]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
