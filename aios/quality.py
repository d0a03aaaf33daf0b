"""How much an answer can be trusted, and what a person did about it: the shapes shared by the
answer steps that measure confidence (activities/llm/confidence.py), the run that pauses for a
review when it is low (workflows/run/review.py) and the API that shows both.

docs/quality.md has the formula and how to calibrate the review threshold; decision record 0038
the why.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

# Below this confidence a run whose review policy says `low_confidence` (and names no threshold)
# waits for a person. docs/quality.md says how it was chosen and how to calibrate it.
DEFAULT_REVIEW_THRESHOLD = 0.3


class Confidence(BaseModel):
    """An answer step's confidence in [0, 1] and what it was built from (None: not measured)."""

    score: float = Field(ge=0, le=1)
    # Share of the answer's claims (sentences) supported by a quote of a source they cite.
    grounding: float | None = None
    # How well the cited sources matched the question (their retrieval scores, in [0, 1]).
    retrieval: float | None = None
    # The model's own: the mean probability of its answer's tokens (log-probabilities).
    model: float | None = None
    claims: int = 0
    supported: int = 0
    # Why it is not higher, for the reviewer (claims not supported, weak retrieval, ...).
    reasons: list[str] = Field(default_factory=list)


class AnswerReview(BaseModel):
    """A person's review of a run's answer (the run's result carries it)."""

    approval_id: str
    reviewer: str | None = None
    # `approved`: the answer stands as written; `edited`: the reviewer's text replaced it.
    outcome: Literal["approved", "edited"]
    comment: str | None = None
    # The model's answer before the edit (only when edited).
    original_answer: str | None = None
    # Why the run asked: the confidence and the threshold, or `always`.
    reason: str = ""


ReviewWhen = Literal["low_confidence", "always", "never"]
