"""The confidence formula (activities/llm/confidence.py) on answers whose grounding is known, and
the rule that only an answer review takes an edited answer (aios/approvals.py)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from activities import context
from activities.llm.confidence import claims, measure
from aios.approvals import approval_problem
from aios.models import ApprovalDecision, PendingApproval
from aios.vocabulary import FailureType

SOURCE: dict[str, Any] = {
    "source": "manual.md",
    "title": "Pump manual",
    "chunks": [
        {
            "source": "manual.md",
            "text": "The maintenance team inspects every pump once a month. Seals are replaced "
            "when worn.",
            "score": 0.03,
        }
    ],
    "quotes": [
        {
            "text": "The maintenance team inspects every pump once a month.",
            "chunk_id": "c1",
            "start": 0,
            "end": 54,
            "score": 0.8,
        }
    ],
}


def _measure(answer: str, documents: list[dict[str, Any]], **kw: float) -> float:
    return measure(answer, context.normalize(documents), documents, **kw).score


def test_claims_are_sentences_with_their_citations() -> None:
    text = "# Pumps\n- The team inspects every pump monthly [1].\n_A note by AIOS._ Short one [2]."
    assert claims(text) == [("The team inspects every pump monthly .", [1])]


def test_supported_answers_score_high_and_unsupported_ones_low() -> None:
    good = _measure("The maintenance team inspects every pump once a month [1].", [SOURCE])
    bad = _measure("Pumps are painted blue every winter by robots [1].", [SOURCE])
    half = measure(
        "The maintenance team inspects every pump once a month [1]. "
        "Pumps are painted blue every winter by robots [1].",
        context.normalize([SOURCE]),
        [SOURCE],
    )
    # grounding 1, retrieval 0.8 (the best quote's similarity), weights 0.6 and 0.2.
    assert math.isclose(good, (0.6 * 1 + 0.2 * 0.8) / 0.8)
    assert math.isclose(bad, (0.6 * 0 + 0.2 * 0.8) / 0.8)
    assert half.grounding == 0.5 and (half.claims, half.supported) == (2, 1)
    assert "1 of 2 claims not supported" in half.reasons[0]
    # A close paraphrase earns partial credit; an invention sharing the topic's words none.
    close = measure("The team checks each pump monthly [1].", context.normalize([SOURCE]), [SOURCE])
    assert 0.5 < (close.grounding or 0) < 1 and close.supported == 0
    # No sources: nothing grounds it. Uncited claims count as unsupported.
    assert _measure("The team inspects every pump once a month.", []) == 0
    assert _measure("The maintenance team inspects every pump once a month.", [SOURCE]) < 0.25
    # The model's own confidence joins when the provider gave log-probabilities.
    sure = _measure(
        "The maintenance team inspects every pump once a month [1].",
        [SOURCE],
        mean_logprob=math.log(0.5),
    )
    assert math.isclose(sure, 0.6 * 1 + 0.2 * 0.8 + 0.2 * 0.5)


def test_only_an_answer_review_takes_an_edited_answer() -> None:
    now = datetime.now(UTC)
    pending = {
        kind: PendingApproval(
            approval_id=kind,
            step_id="s",
            reason="r",
            kind=kind,
            args_hash="h",
            requested_at=now,
            expires_at=now,
        )
        for kind in ("approval", "review")
    }
    edit = ApprovalDecision(approval_id="approval", args_hash="h", answer="mine")
    assert approval_problem(edit, pending)[0] == FailureType.ANSWER_EDIT_REFUSED  # type: ignore[index]
    review = edit.model_copy(update={"approval_id": "review"})
    assert approval_problem(review, pending) is None
    rejecting = review.model_copy(update={"decision": "reject"})
    assert approval_problem(rejecting, pending)[0] == FailureType.ANSWER_EDIT_REFUSED  # type: ignore[index]
