"""Review of a run's answer: a person sees it before the run returns it, when its confidence is low.

The run's `review` policy (its own, else its skill's or plan's; aios/plan.py `ReviewPolicy`)
says when: `low_confidence` (the answer step reported a confidence below the threshold),
`always`, or `never`. The result step's output then waits at an approval of kind `review` that
shows the answer, its confidence with the reasons it is low, and the sources it cites. The
reviewer approves (the answer stands), rejects (the step fails, and with it the run), or
approves with an edited answer: the run returns the reviewer's text, and its result says who
edited it and what the model had written. The same rules as every approval: the approver role or
a named approver, never the run's requester. Behind the patch gate `answer-review`.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from aios.models import AgentRunInput, StepResult
    from aios.plan import Plan, ReviewPolicy, Step
    from aios.quality import AnswerReview
    from aios.vocabulary import RunEventType

from workflows.patches import REVIEW_PATCH
from workflows.run.approval_gate import ApprovalGate
from workflows.run.journal import RunJournal

# The approval id of a review is the result step's id with this suffix (and `-approval`).
REVIEW_SUFFIX = "-review"
# Sources shown to the reviewer (their citations; the whole output is a query away).
MAX_EVIDENCE = 10


class AnswerReviewer:
    def __init__(self, journal: RunJournal, gate: ApprovalGate) -> None:
        self._journal = journal
        self._gate = gate
        self._policy: ReviewPolicy | None = None
        self._result_step: str | None = None

    def adopt(self, run: AgentRunInput, plan: Plan) -> None:
        """The plan the run executes now (again after a revision): which step is the answer, and
        the policy (the run's own over the first plan's: a revision keeps it)."""
        self._result_step = plan.result_step_id
        if self._policy is None:
            policy = run.review or plan.review
            if policy is not None and policy.when != "never":
                self._policy = policy

    def observe(self, step: Step, result: StepResult) -> None:
        """An answer step's confidence goes into the run's log (and so its trace)."""
        output = result.output
        confidence = output.get("confidence") if isinstance(output, dict) else None
        if isinstance(confidence, dict):
            self._journal.emit(RunEventType.ANSWER_CONFIDENCE, step.id, confidence)

    async def review(self, step: Step, result: StepResult, index: int | None) -> StepResult:
        """The result step's output after its review, when the policy asks for one."""
        policy = self._policy
        output = result.output
        if (
            policy is None
            or index is not None
            or step.id != self._result_step
            or not isinstance(output, dict)
            or not isinstance(output.get("text"), str)
        ):
            return result
        confidence = output.get("confidence")
        score = confidence.get("score") if isinstance(confidence, dict) else None
        if policy.when == "low_confidence":
            if not isinstance(score, int | float) or score >= policy.threshold:
                return result
            reasons = confidence.get("reasons") if isinstance(confidence, dict) else None
            why = (
                f"the answer's confidence {score:.2f} is below the review threshold "
                f"{policy.threshold:.2f}"
                + (f": {'; '.join(str(r) for r in reasons)}" if reasons else "")
            )
        else:
            why = "this run's answers are always reviewed" + (
                f" (confidence {score:.2f})" if isinstance(score, int | float) else ""
            )
        if not self._journal.patches.has(REVIEW_PATCH):
            return result
        args: dict[str, Any] = {
            "answer": output["text"],
            "confidence": confidence,
            "evidence": [
                {k: c.get(k) for k in ("n", "source", "title", "snippet", "score") if k in c}
                for c in (output.get("citations") or [])[:MAX_EVIDENCE]
                if isinstance(c, dict)
            ],
        }
        waiting = step.model_copy(update={"approval": policy.approval(why)})
        await self._gate.wait(waiting, args, REVIEW_SUFFIX, kind="review")
        approval_id = f"{step.id}{REVIEW_SUFFIX}-approval"
        decision = self._gate.answer_of(approval_id)
        edited = decision is not None and decision.answer is not None
        review = AnswerReview(
            approval_id=approval_id,
            reviewer=decision.reviewer if decision else None,
            outcome="edited" if edited else "approved",
            comment=decision.comment if decision else None,
            original_answer=output["text"] if edited else None,
            reason=why,
        )
        reviewed = {**output, "review": review.model_dump()}
        if decision is not None and decision.answer is not None:
            reviewed["text"] = decision.answer
        return result.model_copy(update={"output": reviewed})
