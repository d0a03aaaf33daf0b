"""The deep-research step's language: its arguments, the pages it reads, the notes it keeps.

A `research` step (workflows/run/research_step.py) turns one question into a body of evidence:
the model proposes sub-questions; each is searched on the web and in the knowledge base at once;
the best pages are read (each URL once per run, whatever the restarts); every page and document
leaves notes of verbatim quotes (`aios.research_notes`, kept as the run's file
`research/notes.md`); the model proposes follow-up questions from the notes; and so on until the
depth limit, the page limit or saturation (a round that finds nothing new). Its output's `sources`
have the shape of a `retrieve` step's, so a report step cites them (URL or document, with quotes)
exactly as it cites the knowledge base.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aios.models import Budget, SourcePassages

NOTES_FILE = "research/notes.md"
# What of a page the notes activity is given (the rest is cut: a page is read for its quotes).
MAX_PAGE_CHARS = 60_000


class ResearchStepArgs(BaseModel):
    """Arguments of a `research` step."""

    model_config = ConfigDict(extra="forbid")

    question: str | None = Field(
        default=None, max_length=4000, description="what to research (default: the run's goal)"
    )
    depth: int = Field(default=2, ge=1, le=5, description="rounds of questions at most")
    breadth: int = Field(default=3, ge=1, le=8, description="questions a round at most")
    pages_per_question: int = Field(
        default=2, ge=0, le=5, description="web pages read for each question"
    )
    max_pages: int = Field(default=12, ge=0, le=100, description="web pages read in all")
    k: int = Field(default=5, ge=1, le=20, description="search results a question")
    web: bool = Field(default=True, description="search the web (when a provider is configured)")
    knowledge: bool = Field(default=True, description="search the knowledge base")
    quotes_per_source: int = Field(default=3, ge=1, le=10)


class ResearchPage(BaseModel):
    """A page read (or a knowledge-base source found) for a question."""

    url: str
    title: str = ""
    text: str = ""
    question: str = ""


class ResearchNotesInput(BaseModel):
    run_id: str
    step_id: str
    tenant: str
    question: str
    pages: list[ResearchPage] = Field(default_factory=list)
    # Whose spend a paid embedding model's requests are (the run, its user, its tenant).
    user_id: str = ""
    budget: Budget | None = None
    # Sources that already carry their quotes (the knowledge base's): noted as they are.
    found: list[SourcePassages] = Field(default_factory=list)
    round: int = 1
    quotes_per_source: int = 3


class ResearchNotesResult(BaseModel):
    """The round's sources with their quotes (pages without a usable sentence are left out)."""

    sources: list[SourcePassages] = Field(default_factory=list)
    notes_file: str = NOTES_FILE


StopReason = Literal["depth", "saturation", "pages"]
