"""The context engine: whatever shape an earlier step's output has, documents are numbered, keep
their provenance for citations, and fit the token budget."""

from __future__ import annotations

from activities import context
from aios.models import Passage, RetrieveOutput, SourcePassages


def passage(n: int, text: str = "Temporal keeps runs durable.") -> Passage:
    return Passage(
        source=f"docs/{n}.md",
        title=f"Doc {n}",
        document_id=f"doc-{n}",
        chunk_id=f"doc-{n}#0",
        text=text,
        score=0.5 + n / 10,
    )


def test_retrieved_sources_become_numbered_documents_with_their_provenance() -> None:
    output = RetrieveOutput(
        query="q",
        chunks=[passage(1), passage(2)],
        sources=[
            SourcePassages(
                source="docs/1.md", title="Doc 1", chunks=[passage(1), passage(1, "more")]
            ),
            SourcePassages(source="docs/2.md", title="Doc 2", chunks=[passage(2)]),
        ],
    ).model_dump()
    docs = context.normalize(output["sources"])
    assert [d.n for d in docs] == [1, 2]
    assert docs[0].source == "docs/1.md" and docs[0].chunk_id == "doc-1#0"
    assert "more" in docs[0].text, "a source's chunks are read together"
    citation = docs[1].citation()
    assert citation.title == "Doc 2" and citation.snippet.startswith("Temporal keeps")


def test_an_earlier_answer_keeps_the_sources_it_cites() -> None:
    answer = {"text": "Runs are durable [1].", "citations": [passage(3).citation().model_dump()]}
    [doc] = context.normalize(answer)
    assert doc.source == "docs/3.md" and doc.text == "Runs are durable [1]."


def test_plain_text_and_tool_output_are_documents_too() -> None:
    docs = context.normalize(["just text", {"rows": [1, 2]}])
    assert docs[0].text == "just text"
    assert '"rows": [1, 2]' in docs[1].text


def test_documents_are_shortened_evenly_to_fit_the_budget() -> None:
    docs = context.normalize([passage(1, "a" * 8000), passage(2, "b" * 8000)])
    messages = context.build_messages(
        instruction="Summarise", documents=docs, system=None, budget_tokens=1000, cite=True
    )
    user = messages[1].content
    assert user.endswith("Summarise"), "the instruction is never dropped"
    assert user.count("a") < 3000 and user.count("b") > 100, "both documents keep a share"
