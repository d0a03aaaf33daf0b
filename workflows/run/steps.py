"""One step of a run's plan: its approval, then an activity, a child workflow or the agent loop.

The DAG executor (workflows/dag.py) decides when a step runs; this decides how. Here too are the
run's taint rules: a step whose output carries untrusted content (documents, pages, tool output),
or derives from it, taints what refers to it, and a side effect that derives from untrusted
content waits for a person's approval, whatever the plan says.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from aios.guardrails import Taint
    from aios.models import AgentRunInput, RunState, SkillStepArgs, StepInput, StepResult
    from aios.plan import STEP_ACTIVITY, PlanError, Step, parse_ref, step_refs
    from aios.vocabulary import Activity, PlannerName, RunEventType, StepKind

from workflows.agent_loop import run_agent_loop
from workflows.dag import StepFailed, StepSkipped
from workflows.patches import (
    CONTEXT_TRIM_PATCH,
    EGRESS_PATCH,
    LEDGER_SCOPE_PATCH,
    MCP_IN_DOUBT_PATCH,
    ONE_APPROVAL_AFTER_TAINT_PATCH,
    UNTRUSTED_APPROVAL_PATCH,
    RunPatches,
)
from workflows.run.agent_step import AgentStepPolicy
from workflows.run.approval_gate import ApprovalGate
from workflows.run.budget_approval import retry_when_cap_raised
from workflows.run.calls import (
    ToolRules,
    call_in_doubt,
    egress_refused,
    failure_attempts,
    failure_reason,
    step_activity,
)
from workflows.run.journal import RunJournal
from workflows.run.research_step import ResearchLoop
from workflows.run.review import AnswerReviewer

# A plan's `skill` step runs as a child of this type (workflows/skill.py). Named, not imported:
# the sandbox imports this module afresh for every run, and each workflow class defined in it
# is validated again each time (bench/README.md: a second class cost ~0.8 ms of CPU per run).
SKILL_WORKFLOW = "SkillWorkflow"


class StepRunner:
    def __init__(
        self,
        journal: RunJournal,
        gate: ApprovalGate,
        tools: ToolRules,
        patches: RunPatches,
        reviewer: AnswerReviewer | None = None,
    ) -> None:
        self._journal = journal
        self._gate = gate
        self._tools = tools
        self._patches = patches
        # The answer's confidence and review (workflows/run/review.py).
        self._reviewer = reviewer or AnswerReviewer(journal, gate)
        # Steps whose output carries untrusted content, or derives from it: where it came from
        # and what the guardrails found. A side effect that derives from it needs approval.
        self._taint: dict[str, Taint] = {}

    async def run(
        self, run: AgentRunInput, step: Step, args: dict[str, Any], index: int | None
    ) -> StepResult:
        """The DAG executor's `run_step`: one step (or one element of a `for_each`); the run's
        answer is reviewed by a person first when its review policy asks."""
        result = await self._run(run, step, args, index)
        self._reviewer.observe(step, result)
        return await self._reviewer.review(step, result, index)

    async def _run(
        self, run: AgentRunInput, step: Step, args: dict[str, Any], index: int | None
    ) -> StepResult:
        journal = self._journal
        tools = self._tools
        suffix = "" if index is None else f"-{index}"
        inputs = self._inputs_taint(step)
        writes = step.kind == StepKind.TOOL and step.tool in tools.side_effects
        # Content from outside (documents, pages, tool output) may carry instructions: whatever
        # derives from it never causes a side effect without a person's approval.
        guarded = writes and inputs.tainted and self._patches.has(UNTRUSTED_APPROVAL_PATCH)
        # A person approved this call knowing untrusted content came before it.
        approved_after_taint = False
        if step.kind == StepKind.APPROVAL or step.tool in tools.approval or guarded:
            answered = await self._gate.wait(
                step,
                args,
                suffix,
                untrusted=inputs if writes else None,
                about=step.depends_on,
                action=(step.tool, args) if step.kind == StepKind.TOOL and step.tool else None,
            )
            approved_after_taint = answered and writes and inputs.tainted
            if step.kind == StepKind.APPROVAL:
                return StepResult(output={"approved": True})
        if step.kind == StepKind.AGENT:
            policy = AgentStepPolicy(run, step, args, inputs, journal, self._gate, tools)
            result = await run_agent_loop(policy)
            self._note_taint(step, result, inputs)
            return result
        if step.kind == StepKind.SKILL:
            result = await self._run_skill(run, step, args, suffix)
            self._note_taint(step, result, inputs)
            return result
        if step.kind == StepKind.RESEARCH:
            result = await ResearchLoop(run, step, args, journal, self._gate).run()
            self._note_taint(step, result, inputs)
            return result
        activity_name: Activity | None = STEP_ACTIVITY.get(step.kind)
        if activity_name is None:
            raise StepFailed(f"steps of kind {step.kind.value!r} cannot run here")
        run_id = journal.state.run_id
        step_input = StepInput(
            run_id=run_id,
            step_id=step.id,
            tenant=run.tenant,
            user_id=run.user_id,
            args=args,
            tool=step.tool,
            idempotency_key=f"{run_id}/{step.id}{suffix}",
            budget=journal.budget(run),
            session_id=run.session_id,
            cache=run.cache,
            skill=run.skill,
            versions=run.versions,
        )
        if step.kind == StepKind.TOOL and self._patches.has(EGRESS_PATCH):
            # The tool sees the caller's roles, and whether what it would send out may carry
            # what untrusted content asked for (it then reaches only the allowed domains).
            step_input.roles = run.roles
            step_input.tainted = inputs.tainted
        title = step.title if index is None else f"{step.title} [{index + 1}]"
        retry = tools.retry_for(step, step.tool)
        step_input.max_attempts = retry.max_attempts
        while True:
            try:
                result = await step_activity(
                    activity_name,
                    step_input,
                    StepResult,
                    step,
                    retry,
                    summary=title,
                    queues=run.activity_queues,
                )
                break
            except ActivityError as e:
                if await retry_when_cap_raised(self._gate, e, step, args, suffix):
                    continue
                refused = egress_refused(e)
                if (
                    refused is not None
                    and approved_after_taint
                    and not step_input.egress_approved
                    and self._patches.has(ONE_APPROVAL_AFTER_TAINT_PATCH)
                ):
                    # Already approved by a person who was shown the untrusted sources.
                    step_input.egress_approved = True
                    continue
                if refused is not None and not step_input.egress_approved:
                    # Outside the allowed domains after untrusted content: a person decides.
                    await self._gate.wait(
                        step,
                        args,
                        f"{suffix}-egress",
                        reason=refused,
                        untrusted=inputs,
                        action=(step.tool, args) if step.tool else None,
                    )
                    step_input.egress_approved = True
                    continue
                doubt = call_in_doubt(e)
                if (
                    doubt is not None
                    and not step_input.resend_in_doubt
                    and self._patches.has(MCP_IN_DOUBT_PATCH)
                ):
                    resend = await self._ask_about_doubt(step, args, suffix, doubt)
                    if resend:
                        step_input.resend_in_doubt = True
                        continue
                    result = StepResult(output={"in_doubt": True, "sent_again": False})
                    break
                attempts = failure_attempts(e, retry.max_attempts)
                raise StepFailed(failure_reason(e), attempts=attempts) from None
        journal.note_routing(step.id, result.routing)
        trim = result.context_trim
        if trim is not None and self._patches.has(CONTEXT_TRIM_PATCH):
            journal.emit(
                RunEventType.CONTEXT_TRIMMED, step.id, {"note": trim.note(), **trim.model_dump()}
            )
        self._note_taint(step, result, inputs)
        return result

    async def _run_skill(
        self, run: AgentRunInput, step: Step, args: dict[str, Any], suffix: str
    ) -> StepResult:
        """A skill runs as a child workflow (its own history, events and approvals, visible in
        the Temporal UI under this run); its answer is this step's output."""
        try:
            skill = SkillStepArgs.model_validate(args)
        except ValueError as e:
            raise StepFailed(f"invalid arguments for a skill step: {e}") from None
        child_id = f"{self._journal.state.run_id}-{step.id}{suffix}"
        child = AgentRunInput(
            goal=skill.goal or run.goal,
            tenant=run.tenant,
            user_id=run.user_id,
            roles=run.roles,
            skill=skill.name,
            inputs=skill.inputs,
            planner=PlannerName.RULE,
            budget_usd=run.budget_usd,
            activity_queues=run.activity_queues,
            key_id=run.key_id,
            schedule_id=run.schedule_id,
            # The parent's prompt pins and model; the child's skill is its own latest.
            versions=run.versions.model_copy(update={"skill": None, "skill_hash": None})
            if run.versions is not None
            else None,
        )
        # The child draws on this run's budget (and its parents') through the spend ledger
        # instead of a copy of it: three skills cannot spend three budgets.
        budget = self._journal.budget(run)
        capped = budget is not None and any(
            r.usd is not None or r.tokens is not None for r in budget.runs
        )
        if budget is not None and capped and self._patches.has(LEDGER_SCOPE_PATCH):
            child.budget_usd = None
            child.parent_runs = budget.runs
        try:
            state: RunState = await workflow.execute_child_workflow(
                SKILL_WORKFLOW,
                child,
                result_type=RunState,
                id=child_id,
                static_summary=f"skill {skill.name} for {step.id}",
            )
        except ChildWorkflowError as e:
            raise StepFailed(f"skill {skill.name!r} failed: {failure_reason(e)}") from None
        finally:
            self._journal.child_finished(child_id)
        result = state.result
        return StepResult(
            output={
                "text": result.answer if result else "",
                "citations": [c.model_dump() for c in result.citations] if result else [],
                "run_id": child_id,
            },
            usage=state.usage,
            # What a skill read is unknown here: treat its answer like any derived content.
            untrusted=True,
        )

    async def _ask_about_doubt(
        self, step: Step, args: dict[str, Any], suffix: str, doubt: str
    ) -> bool:
        """A person looks on the server: True to send the call once more (it did not happen),
        False when they reject (it happened, or must not be sent): never a blind retry, never a
        standing approval."""
        try:
            await self._gate.wait(
                step,
                args,
                f"{suffix}-in-doubt",
                reason=f"{doubt}. Approve to send it once more (it did not happen); reject if it "
                "happened (the step ends without sending it)",
            )
        except (StepFailed, StepSkipped):
            return False
        return True

    # --- taint ------------------------------------------------------------------------------

    def _inputs_taint(self, step: Step) -> Taint:
        """The untrusted content a step's arguments refer to (directly or through other steps)."""
        taint = Taint()
        for ref in step_refs(step):
            try:
                source, _path = parse_ref(ref)
            except PlanError:
                continue
            if source in self._taint:
                taint.add(self._taint[source])
        return taint

    def _note_taint(self, step: Step, result: StepResult, inputs: Taint) -> None:
        self._journal.record_findings(step.id, result.findings)
        if not (result.untrusted or inputs.tainted):
            return
        taint = self._taint.setdefault(step.id, Taint())
        taint.add(inputs)
        if result.untrusted:
            taint.add(Taint(sources=[step.id], findings=result.findings))
