"""The approval gate: a step (or an agent's tool call) that waits for a person.

An approval names the step and a hash of the arguments it shows; an answer that names an unknown
or already answered approval, or other arguments, is refused (the update's validator) or ignored
and reported (the signal, which the Temporal UI sends by hand). An unanswered approval expires
after its policy's timeout and counts as rejected, or fails the run, as the policy says.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import pydantic

    from aios.approval_policies import AppliedPolicy, PolicyRequest
    from aios.approvals import (
        CONTEXT_STEPS,
        SignalCheck,
        SignalSender,
        approval_context,
        approval_hash,
        approval_problem,
        own_answer_problem,
    )
    from aios.errors import describe_field_errors
    from aios.guardrails import Taint, describe
    from aios.models import (
        AgentRunInput,
        ApprovalAck,
        ApprovalContext,
        ApprovalDecision,
        PendingApproval,
    )
    from aios.plan import ApprovalPolicy, Step
    from aios.vocabulary import Activity, RunEventType, RunStatus, StepStatus

from workflows.dag import RunFailed, StepFailed, StepSkipped
from workflows.patches import (
    APPROVAL_CONTEXT_PATCH,
    APPROVAL_POLICIES_PATCH,
    NOTIFY_PATCH,
    SELF_APPROVAL_POLICY_PATCH,
    SIGNAL_IDENTITY_PATCH,
)
from workflows.run.approval_outreach import (
    STANDING_RETRY,
    notify_approvers,
    standing_approval,
)
from workflows.run.calls import failure_reason
from workflows.run.journal import RunJournal

# Signals the run ignored (malformed or invalid), kept for the current details.
MAX_IGNORED_SIGNALS = 5
# Reading the approval policy: a database round trip, retried for a few minutes; an approval
# whose policy cannot be read does not open under a weaker one (the run fails, saying why).
POLICY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
)


class ApprovalGate:
    def __init__(self, journal: RunJournal) -> None:
        self._journal = journal
        self._decisions: dict[str, ApprovalDecision] = {}
        self._answered: set[str] = set()
        # Approvals opened since SELF_APPROVAL_POLICY_PATCH: the run itself refuses its
        # requester's answer to them unless a policy allows self-approval.
        self._four_eyes: set[str] = set()
        # Notices and signal checks running beside the waits (kept so they are not collected).
        self._background: list[asyncio.Task[None]] = []
        # What the run's approval policies are looked up by, besides the tool (`for_run`).
        self._skill: str | None = None
        self._schedule_id: str | None = None
        # Approvals to raise a spend cap asked so far, per call site (budget_approval.py).
        self.budget_asks: dict[str, int] = {}

    @property
    def journal(self) -> RunJournal:
        return self._journal

    def for_run(self, run: AgentRunInput) -> None:
        """The run's skill and schedule: approval policies for them apply to its approvals."""
        self._skill = run.skill
        self._schedule_id = run.schedule_id

    async def wait(
        self,
        step: Step,
        args: dict[str, Any],
        suffix: str,
        *,
        reason: str | None = None,
        untrusted: Taint | None = None,
        about: Sequence[str] = (),
        action: tuple[str, dict[str, Any]] | None = None,
        kind: Literal["approval", "review"] = "approval",
        budget_policy: AppliedPolicy | None = None,
    ) -> bool:
        """Wait for a person to approve `args` for `step`, showing the outputs of the steps named
        in `about` (what the step depends on: the draft being approved). Raises StepSkipped or
        StepFailed (as the step's policy says) when rejected or expired, RunFailed when expiry
        fails the run. `action` (a tool and its arguments): a standing approval that allows it
        lets it through without waiting (False: nobody was asked; True: a person approved).
        `budget_policy`: an approval to raise a spend cap, on the
        terms of that policy alone (budget_approval.py), never a standing approval's."""
        journal = self._journal
        policy = step.approval or ApprovalPolicy()
        approval_id = f"{step.id}{suffix}-approval"
        if action is not None and await standing_approval(
            self._journal, step, approval_id, *action
        ):
            return False
        applied: AppliedPolicy | None = None
        tool = action[0] if action else step.tool
        if budget_policy is not None:
            self._four_eyes.add(approval_id)
            applied = budget_policy
            policy = budget_policy.over(ApprovalPolicy())
        elif journal.patches.has(SELF_APPROVAL_POLICY_PATCH):
            # The same, and whether a policy lets the requester answer (an answer review
            # keeps its own terms, but may be the requester's to answer on a dev stack).
            self._four_eyes.add(approval_id)
            terms = kind == "approval"
            applied = await self._policy(approval_id, tool, requester=True, terms=terms)
            if applied is not None:
                policy = applied.over(policy)
        elif kind == "approval" and journal.patches.has(APPROVAL_POLICIES_PATCH):
            # A tenant's or the repository's policy for this schedule, skill or tool decides
            # who answers, how many and what silence does (in place of the plan's).
            applied = await self._policy(approval_id, tool)
            if applied is not None:
                policy = applied.over(policy)
        now = workflow.now()
        why = (
            policy.reason
            or reason
            or (
                f"tool {step.tool!r} has side effects and needs approval"
                if step.tool
                else f"approval requested: {step.title}"
            )
        )
        if untrusted is not None and untrusted.tainted:
            why += (
                f"; requested after untrusted content (from {', '.join(untrusted.sources)}); "
                f"the guardrails found: {describe(untrusted.findings) or 'no known attack pattern'}"
            )
        shown, outputs = self._context(about)
        pending = PendingApproval(
            approval_id=approval_id,
            step_id=step.id,
            reason=why,
            kind=kind,
            untrusted_sources=list(untrusted.sources) if untrusted else [],
            findings=list(untrusted.findings) if untrusted else [],
            args=args,
            about=shown,
            args_hash=approval_hash(args, outputs),
            requested_at=now,
            expires_at=now + timedelta(seconds=policy.timeout_s),
            approvals_required=policy.approvals_required,
            approvers=list(policy.approvers),
            policy=applied.label if applied is not None else None,
            self_approval=_self_approval(applied),
            self_approval_policy=applied.self_approval_by if applied is not None else None,
        )
        journal.pending[approval_id] = pending
        journal.step_state(step.id).status = StepStatus.AWAITING_APPROVAL
        journal.emit(RunEventType.APPROVAL_REQUESTED, step.id, pending.model_dump(mode="json"))
        journal.sync_waiting_status()
        if self._journal.patches.has(NOTIFY_PATCH):
            # Beside the wait, not before it: an answer may come before the mail goes out.
            self._background.append(
                asyncio.create_task(notify_approvers(self._journal, pending, 0))
            )
        # The first window, then one per escalation step (each to its next group of approvers).
        windows = [policy.timeout_s, *(e.timeout_s for e in policy.escalate)]
        try:
            for level, window in enumerate(windows):
                if level > 0:
                    self._escalate(pending, policy, level, window)
                try:
                    await workflow.wait_condition(
                        lambda: approval_id in self._decisions,
                        timeout=timedelta(seconds=window),
                        timeout_summary=f"approval {approval_id} expires"
                        if level == 0
                        else f"approval {approval_id} escalation {level} expires",
                    )
                    break
                except TimeoutError:
                    if level == len(windows) - 1:
                        raise
        except TimeoutError:
            waited = sum(windows)
            journal.pending.pop(approval_id, None)
            self._answered.add(approval_id)
            journal.emit(RunEventType.APPROVAL_EXPIRED, step.id, {"approval_id": approval_id})
            journal.step_state(step.id).status = StepStatus.RUNNING
            journal.sync_waiting_status()
            if policy.on_timeout == "fail":
                raise RunFailed(
                    f"approval {approval_id!r} was not answered within {waited:g}s",
                    status=RunStatus.TIMED_OUT,
                ) from None
            _rejected(
                policy,
                f"approval {approval_id!r} was not answered within {waited:g}s "
                "and counts as rejected",
            )
        decision = self._decisions[approval_id]
        journal.step_state(step.id).status = StepStatus.RUNNING
        journal.sync_waiting_status()
        if decision.decision == "reject":
            who = decision.reviewer or "a reviewer"
            _rejected(
                policy, f"rejected by {who}" + (f": {decision.comment}" if decision.comment else "")
            )
        return True

    def _escalate(
        self, pending: PendingApproval, policy: ApprovalPolicy, level: int, window: float
    ) -> None:
        """The approval's window passed unanswered: it goes to the next group, for `window`."""
        group = policy.escalate[level - 1]
        pending.approvers = list(group.approvers)
        pending.expires_at = workflow.now() + timedelta(seconds=window)
        self._journal.emit(
            RunEventType.APPROVAL_ESCALATED,
            pending.step_id,
            {
                "approval_id": pending.approval_id,
                "level": level,
                "approvers": pending.approvers,
                "expires_at": pending.expires_at.isoformat(),
            },
        )
        self._journal.sync_waiting_status()
        if self._journal.patches.has(NOTIFY_PATCH):  # the next group is told too
            self._background.append(
                asyncio.create_task(notify_approvers(self._journal, pending, level))
            )

    def _context(self, about: Sequence[str]) -> tuple[list[ApprovalContext], dict[str, Any]]:
        """The outputs an approval shows (readable, cut) and hashes (in full). Runs started before
        APPROVAL_CONTEXT_PATCH showed none; the gate is asked only when there is one to show."""
        outputs = self._journal.outputs
        found = [step_id for step_id in about if step_id in outputs][:CONTEXT_STEPS]
        if not found or not self._journal.patches.has(APPROVAL_CONTEXT_PATCH):
            return [], {}
        titles = {s.id: s.title for s in self._journal.state.plan}
        shown = [approval_context(i, titles.get(i, ""), outputs[i]) for i in found]
        return shown, {i: outputs[i] for i in found}

    async def _policy(
        self,
        approval_id: str,
        tool: str | None,
        *,
        requester: bool = False,
        terms: bool = True,
        budget: str | None = None,
    ) -> AppliedPolicy | None:
        """The approval policy for this approval (None: the plan's own applies) and, asked with
        `requester`, the policy that lets the run's requester answer it. When it cannot be read
        the run fails: the approval must not open under terms weaker than an admin set."""
        state = self._journal.state
        request = PolicyRequest(
            tenant=state.tenant,
            tool=tool,
            skill=self._skill,
            schedule_id=self._schedule_id,
            requester=state.user_id if requester else None,
            terms=terms,
            budget=budget,
        )
        try:
            applied: AppliedPolicy | None = await workflow.execute_activity(
                Activity.APPROVAL_POLICY,
                request,
                result_type=AppliedPolicy,
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=POLICY_RETRY,
                summary=f"approval policy for {approval_id}",
            )
        except ActivityError as e:
            raise RunFailed(
                f"the approval policy for {approval_id!r} could not be read "
                f"({failure_reason(e)}); the approval did not open"
            ) from None
        return applied

    async def budget_policy(self, approval_id: str, scope: str) -> AppliedPolicy | None:
        """The policy that lets a run refused by a cap of `scope` wait for it to be raised
        (None: there is none, and the run fails). Its self-approval is the requester's as for
        any approval: a user does not raise their own cap unless a policy says so."""
        applied = await self._policy(approval_id, None, requester=True, budget=scope)
        return applied if applied is not None and applied.policy is not None else None

    # --- answers --------------------------------------------------------------------------

    def answer_of(self, approval_id: str) -> ApprovalDecision | None:
        """The decision that answered `approval_id` (None: unanswered, or expired)."""
        return self._decisions.get(approval_id)

    def check(self, decision: ApprovalDecision) -> None:
        """Raise (type UnknownApproval, ApprovalAlreadyAnswered or ArgsHashMismatch) unless the
        decision answers a pending approval about exactly the arguments it shows."""
        problem = approval_problem(decision, self._journal.pending, self._answered)
        if problem is None and decision.approval_id in self._four_eyes:
            pending = self._journal.pending[decision.approval_id]
            problem = own_answer_problem(decision, pending, self._journal.state.user_id)
        if problem is not None:
            kind, message = problem
            raise ApplicationError(message, type=kind, non_retryable=True)

    def accept(self, decision: ApprovalDecision) -> ApprovalAck:
        journal = self._journal
        waiting = journal.pending[decision.approval_id]
        if decision.decision == "approve" and decision.reviewer is not None:
            approved = [*waiting.approved_by, decision.reviewer]
            if len(approved) < waiting.approvals_required:  # k of n: not enough yet
                waiting.approved_by = approved
                count = f"{len(approved)} of {waiting.approvals_required}"
                journal.emit(
                    RunEventType.APPROVAL_ANSWERED,
                    waiting.step_id,
                    {
                        "approval_id": decision.approval_id,
                        "decision": decision.decision,
                        "reviewer": decision.reviewer,
                        "comment": decision.comment,
                        "approvals": count,
                    },
                )
                journal.sync_waiting_status()
                return ApprovalAck(
                    approval_id=decision.approval_id,
                    decision=decision.decision,
                    step_id=waiting.step_id,
                    detail=f"approved by {count} distinct approvers needed; still waiting",
                )
        pending = journal.pending.pop(decision.approval_id)
        self._decisions[decision.approval_id] = decision
        self._answered.add(decision.approval_id)
        answered: dict[str, Any] = {
            "approval_id": decision.approval_id,
            "decision": decision.decision,
            "reviewer": decision.reviewer,
            "comment": decision.comment,
        }
        if decision.answer is not None:  # an answer review approved with an edit
            answered["answer_edited"] = True
        journal.emit(RunEventType.APPROVAL_ANSWERED, pending.step_id, answered)
        journal.sync_waiting_status()
        return ApprovalAck(
            approval_id=decision.approval_id, decision=decision.decision, step_id=pending.step_id
        )

    def signalled(self, payload: Any) -> None:
        """An answer sent as a signal, raw: a malformed one (sent by hand from the Temporal UI)
        must be reported where the operator looks, not fail to decode in the worker."""
        try:
            decision = ApprovalDecision.model_validate(payload)
        except pydantic.ValidationError as e:
            problems = describe_field_errors(e.errors(), root="payload")
            self._ignore_signal(f"malformed approve signal ({problems})", "MalformedSignal")
            return
        if self._duplicate(decision):
            return  # the same answer again (e.g. the API's durable fallback): already applied
        if self._journal.patches.has(SIGNAL_IDENTITY_PATCH):
            # Counted once its sender is known (a name in the payload is not an identity).
            self._background.append(asyncio.create_task(self._from_sender(decision)))
            return
        self._apply_signal(decision)

    def _apply_signal(self, decision: ApprovalDecision) -> None:
        try:
            self.check(decision)
        except ApplicationError as e:
            self._ignore_signal(e.message, e.type or "ApplicationError")
            return
        self.accept(decision)

    async def _from_sender(self, decision: ApprovalDecision) -> None:
        """Apply a signalled answer by who sent it: AIOS's own API (the identity that started
        the run) as it is; the Temporal UI, where AIOS_TEMPORAL_UI_APPROVALS allows it, under the
        identity the server recorded (never the run's requester); otherwise ignore it, saying
        why."""
        info = workflow.info()
        check = SignalCheck(
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            approval_id=decision.approval_id,
            decision=decision.decision,
            args_hash=decision.args_hash,
        )
        try:
            sender: SignalSender = await workflow.execute_activity(
                Activity.SIGNAL_SENDER,
                check,
                result_type=SignalSender,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=STANDING_RETRY,
                summary=f"who sent the answer to {decision.approval_id}?",
            )
        except ActivityError as e:
            self._ignore_signal(
                f"the sender of an approve signal could not be checked ({failure_reason(e)}); "
                "answer again",
                "SignalSenderUnknown",
            )
            return
        if self._duplicate(decision):
            return
        if sender.from_starter:
            self._apply_signal(decision)
            return
        who = sender.identity or "an unnamed sender"
        if not sender.ui_answers:
            self._ignore_signal(
                f"an approve signal from {who} was ignored: answers sent from the Temporal UI "
                "are off (AIOS_TEMPORAL_UI_APPROVALS); answer with `aios approve` or the API",
                "TemporalUiAnswersOff",
            )
            return
        if not sender.identity or sender.identity == self._journal.state.user_id:
            self._ignore_signal(
                f"an approve signal from {who} was ignored: the Temporal UI must name its user, "
                "and a run's requester never answers its own approvals",
                "TemporalUiAnswerRefused",
            )
            return
        self._apply_signal(
            decision.model_copy(
                update={
                    "reviewer": f"temporal-ui:{sender.identity}",
                    "reviewer_roles": [],
                    "reviewer_groups": [],
                }
            )
        )

    def _duplicate(self, decision: ApprovalDecision) -> bool:
        earlier = self._decisions.get(decision.approval_id)
        return (
            earlier is not None
            and earlier.decision == decision.decision
            and earlier.args_hash == decision.args_hash
        )

    def _ignore_signal(self, reason: str, kind: str) -> None:
        journal = self._journal
        journal.emit(RunEventType.APPROVAL_SIGNAL_IGNORED, None, {"reason": reason, "type": kind})
        journal.ignored_signals = [*journal.ignored_signals, reason][-MAX_IGNORED_SIGNALS:]
        journal.refresh_details()


def _self_approval(applied: AppliedPolicy | None) -> bool:
    """Whether the run's requester may answer (only ever a policy's say-so)."""
    if applied is None:
        return False
    if applied.self_approval_by is not None:
        return True
    # Asked without the requester (before SELF_APPROVAL_POLICY_PATCH): the policy's own flag.
    return applied.policy is not None and applied.policy.allow_self_approval


def _rejected(policy: ApprovalPolicy, reason: str) -> None:
    if policy.on_reject == "skip":
        raise StepSkipped(reason)
    raise StepFailed(reason)
