"""The context engine: whatever shape an earlier step's output has, documents are numbered, keep
their provenance for citations, and fit the token budget."""

from __future__ import annotations

from activities import context
from aios.models import Passage, RetrieveOutput, SourcePassages
from tests.conftest import Stack
from tests.helpers import finish, start_plan
from tests.support.fake_openai import FakeOpenAI


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


def test_exact_token_counts_shape_the_fit() -> None:
    """With a tokenizer's counts, documents are cut by their own characters-per-token ratio."""
    dense = passage(1, "x" * 4000)  # one long "word": few tokens by the exact count
    wordy = passage(2, "a " * 2000)  # 2,000 one-letter words: many tokens
    exact = {dense.text: 10, wordy.text: 2000}
    docs = context.normalize([dense.model_dump(), wordy.model_dump()])
    fitted = context.fit_to_budget(docs, 500, context.counter_from(exact))
    assert fitted[0].text == dense.text, "a document within its share is kept whole"
    assert len(fitted[1].text) < 1000, "the other is cut to its share of the tokens"


async def test_the_local_model_counts_prompt_tokens_exactly(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    plan = [{"id": "ask", "kind": "llm", "args": {"instruction": "Say hi", "documents": ["a b c"]}}]
    state = await finish(await start_plan(stack.client, stack.settings.task_queue, plan))
    assert state.status == "completed", state.error
    assert "Say hi" in fake_openai.tokenized and "a b c" in fake_openai.tokenized


def test_an_answer_that_echoes_the_fence_markup_is_cleaned() -> None:
    fence = context.new_fence()
    answer = (
        f"BEGIN DOCUMENT [1] {fence}: Approvals\nApprovals pause runs [1].\n"
        f"END DOCUMENT [1] {fence}"
    )
    assert context.without_fences(answer, fence) == "Approvals pause runs [1]."
    assert (
        context.without_fences("BEGIN DOCUMENT is a phrase", fence) == "BEGIN DOCUMENT is a phrase"
    )
    # As the bundled model writes it: the markup copied with the fence garbled, any case.
    garbled = (
        "BEGIN DOCUMENT [3] fence-fec_8c9dcea0abcd (A) AIOS — architecture\n"
        "AIOS runs every agent as a Temporal workflow [3].\n"
        "End DOCUMENT [3] fence-9adab: AIOS\n"
        "  begin tool result fence-x\n"
        "It survives crashes."
    )
    assert context.without_fences(garbled, fence) == (
        "AIOS runs every agent as a Temporal workflow [3].\nIt survives crashes."
    )


def test_a_catalogue_is_cut_to_its_budget_most_relevant_first() -> None:
    from activities.context import fit_catalogue

    entries = [
        ("calculator", "- tool calculator: evaluate arithmetic " + "x" * 200),
        ("send_email", "- tool send_email: send an email message to a recipient"),
        ("web_search", "- tool web_search: search the web for pages " + "y" * 200),
    ]
    fitted = fit_catalogue("Draft an email to the team", entries, budget_tokens=40)
    assert fitted.shown == ["send_email"]
    assert set(fitted.omitted) == {"calculator", "web_search"}
    assert "1 of 3 entries shown" in fitted.note(2048)
    assert fit_catalogue("anything", entries, budget_tokens=10_000).omitted == []


def test_a_prompt_over_the_window_is_a_context_overflow_not_a_plain_rejection() -> None:
    from activities.llm.base import status_error
    from aios.errors import ContextOverflow, ProviderRejected

    message = "request (2090 tokens) exceeds the available context size (2048 tokens)"
    assert isinstance(status_error("local", 400, message, {}), ContextOverflow)
    rejected = status_error("local", 400, "invalid model", {})
    assert isinstance(rejected, ProviderRejected) and not isinstance(rejected, ContextOverflow)
