"""`AgentRunWorkflow`: one agent run, from goal to answer, durably.

Plan -> act -> observe: the planner (an activity) turns the goal into a plan, the DAG executor runs
its steps as activities (parallel where the plan allows), each step's output is observed into the
run state, and the result step's output becomes the answer with its citations.

Queries:
    state -> RunState: everything `GET /v1/runs/{id}` shows.
    events(EventsQuery) -> list[RunEvent]: the progress log after a sequence number (for SSE).
Updates:
    approve(ApprovalDecision) -> ApprovalAck: answer a pending approval. The validator rejects an
        unknown or already answered approval id and an `args_hash` that does not match.
Signals:
    approve(ApprovalDecision): the same answer for senders that cannot use updates (the Temporal
        Web UI's "Send a Signal"); an invalid one is ignored and logged as an event.
    cancel_run(CancelRequest): stop the run; in-flight activities learn of it through heartbeats.
        A Temporal cancellation request (the UI's Cancel button) has the same effect.
Queries (continued):
    step_output(StepOutputQuery) -> StepOutput: a step's full output (`output_ref` of a step).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    RetryState,
)

# Models and pure modules are shared with the host process. This module is imported afresh for
# every run in the sandbox; the DAG executor is shared too (workers/main.py says why).
with workflow.unsafe.imports_passed_through():
    import pydantic

    from aios import search_attributes as sa
    from aios.approvals import approval_problem
    from aios.errors import describe_field_errors
    from aios.guardrails import Finding, Taint, describe
    from aios.models import (
        AgentRunInput,
        AgentStepArgs,
        AgentToolCallRecord,
        AgentTurnInput,
        AgentTurnRecord,
        AgentTurnResult,
        ApprovalAck,
        ApprovalDecision,
        Budget,
        CancelRequest,
        Citation,
        EventsQuery,
        Message,
        PendingApproval,
        PlanningInput,
        PlanningResult,
        RoutingNote,
        RunEvent,
        RunResult,
        RunState,
        SkillStepArgs,
        StepInput,
        StepOutput,
        StepOutputQuery,
        StepResult,
        StepState,
        ToolCall,
        Usage,
    )
    from aios.plan import (
        STEP_ACTIVITY,
        ApprovalPolicy,
        Plan,
        PlanError,
        RetrySpec,
        Step,
        args_hash,
        effective_retry,
        parse_ref,
        step_refs,
    )
    from aios.queues import queue_for
    from aios.text import one_line
    from aios.trace import build_trace
    from aios.vocabulary import (
        Activity,
        FailureType,
        PlannerName,
        RunEventType,
        RunStatus,
        StepKind,
        StepStatus,
    )

from workflows.dag import DagExecutor, RunFailed, StepFailed, StepSkipped, gather_or_cancel

R = TypeVar("R")

# The progress log keeps this many recent events; older ones are dropped (histories and query
# answers stay bounded however long a run is).
MAX_EVENTS = 1000
# Signals the run ignored (malformed or invalid), kept for the current details.
MAX_IGNORED_SIGNALS = 5
# Model turns of an agent step, unless the step names its own policy.
LLM_TURN_RETRY = RetrySpec(max_attempts=4, initial_interval_s=2.0)
PLANNING_TIMEOUT = timedelta(minutes=5)
HEARTBEAT_TIMEOUT_S = 30.0
# Runs recorded before side effects derived from untrusted content needed approval replay
# without that wait.
UNTRUSTED_APPROVAL_PATCH = "untrusted-input-approval"
# Runs started before it do not set AiosWaitingSince (their histories replay without it).
WAITING_SINCE_PATCH = "waiting-since-attribute"
# Runs started before it end without recording a decision trace.
TRACE_PATCH = "record-decision-trace"
# Runs started before it checked a client's (or the rule planner's) plan and recorded the trace
# as activities on the task queue, and upserted tenant and user though the API had set them.
# Since, both run as local activities in the worker that runs the workflow: no round trip through
# the server for work that takes a millisecond (bench/README.md has what this bought).
LEAN_PATCH = "local-planning-and-trace"
# Runs started since take all of the patches above at once: each patch marker also upserts
# Temporal's TemporalChangeVersion search attribute, a visibility write per patch per run (the
# throughput benchmark counted five upserts per run). Runs the API starts name this generation
# in their input (`AgentRunInput.patches`) and record no marker at all; runs started otherwise
# carry this one marker. Older runs replay through the individual patches. Add new patches
# individually, and fold them in here with a new name.
CURRENT_PATCHES = "aios-patches-2026-11"
TRACE_RETRY = RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=10))
# Checking a plan given by the client, or the rule planner's: no model call, milliseconds.
LOCAL_PLANNING_TIMEOUT = timedelta(seconds=30)
# A plan's `skill` step runs as a child of this type (workflows/skill.py). Named, not imported:
# the sandbox imports this module afresh for every run, and each workflow class defined in it
# is validated again each time (bench/README.md: a second class cost ~0.8 ms of CPU per run).
SKILL_WORKFLOW = "SkillWorkflow"


@workflow.defn
class AgentRunWorkflow:
    def __init__(self) -> None:
        self._state: RunState | None = None
        self._events: list[RunEvent] = []
        self._seq = 0
        self._pending: dict[str, PendingApproval] = {}
        self._decisions: dict[str, ApprovalDecision] = {}
        self._answered: set[str] = set()
        self._cancel: CancelRequest | None = None
        self._approval_tools: set[str] = set()
        self._side_effect_tools: set[str] = set()
        self._tool_retries: dict[str, RetrySpec] = {}
        # Steps whose output carries untrusted content, or derives from it: where it came from
        # and what the guardrails found. A side effect that derives from it needs approval.
        self._taint: dict[str, Taint] = {}
        self._agent_taint: dict[str, Taint] = {}
        self._outputs: dict[str, Any] = {}
        self._ignored_signals: list[str] = []
        self._current_patches = False

    # --- main ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, run: AgentRunInput) -> RunState:
        if run.patches is None:
            self._current_patches = workflow.patched(CURRENT_PATCHES)
        else:  # named in the input: in the history, so deterministic without a marker
            self._current_patches = run.patches == CURRENT_PATCHES
        now = workflow.now()
        self._state = RunState(
            run_id=workflow.info().workflow_id,
            goal=run.goal,
            tenant=run.tenant,
            user_id=run.user_id,
            created_at=now,
            updated_at=now,
        )
        # The API starts runs with their owner's attributes set; runs started otherwise get them.
        started_with = workflow.info().typed_search_attributes
        if not (self._patched(LEAN_PATCH) and started_with.get(sa.TENANT) == run.tenant):
            workflow.upsert_search_attributes(
                [sa.TENANT.value_set(run.tenant), sa.USER.value_set(run.user_id)]
            )
        self._set_status(RunStatus.RUNNING)
        self._emit(RunEventType.RUN_STARTED, None, {"goal": run.goal})
        self._record_findings(None, run.input_findings)
        cancelled_in_temporal = dropped = False
        try:
            return await self._until_finished(run)
        except asyncio.CancelledError:
            cancelled_in_temporal = True
            raise
        except GeneratorExit:
            # The worker let go of this instance (evicted, or shutting down) and Python is
            # closing its coroutine, outside any workflow task: no workflow call can run now, and
            # the run goes on from its history wherever it is picked up next.
            dropped = True
            raise
        finally:
            # The decision trace, kept past Temporal's retention. Not after a cancellation
            # requested in Temporal: the run must stop now (the API still builds its trace from
            # the run's own log while Temporal keeps it).
            if not (cancelled_in_temporal or dropped) and self._patched(TRACE_PATCH):
                await self._record_trace()

    async def _until_finished(self, run: AgentRunInput) -> RunState:
        work = asyncio.create_task(self._plan_and_execute(run))
        try:
            await workflow.wait_condition(lambda: work.done() or self._cancel is not None)
            if not work.done():
                work.cancel()
                await workflow.wait([work])
                return self._finish_cancelled(self._cancel)
            return work.result()
        except asyncio.CancelledError:
            # A Temporal cancellation request: stop the work, record it, end as Canceled.
            work.cancel()
            await workflow.wait([work])
            self._finish_cancelled(CancelRequest(reason="cancellation requested in Temporal"))
            raise
        except RunFailed as e:
            state = self._run_state
            state.error = e.reason
            self._set_status(e.status)
            self._emit(RunEventType.RUN_FINISHED, None, {"status": e.status, "error": e.reason})
            raise ApplicationError(
                e.reason,
                state,
                type=FailureType.RUN_TIMED_OUT
                if e.status == RunStatus.TIMED_OUT
                else FailureType.RUN_FAILED,
                non_retryable=True,
            ) from None

    async def _plan_and_execute(self, run: AgentRunInput) -> RunState:
        state = self._run_state
        planning = await self._plan(run)
        plan = planning.plan
        state.usage += planning.usage
        self._approval_tools = set(planning.tools_requiring_approval)
        self._side_effect_tools = set(planning.side_effect_tools)
        self._tool_retries = dict(planning.tool_retries)
        if run.max_steps is not None and len(plan.steps) > run.max_steps:
            raise RunFailed(
                f"the plan has {len(plan.steps)} steps, more than max_steps={run.max_steps}"
            )
        state.plan = [
            StepState(id=s.id, kind=s.kind, title=s.title, depends_on=list(s.depends_on))
            for s in plan.steps
        ]
        self._emit(
            RunEventType.PLAN_READY,
            None,
            {"planner": planning.planner, "steps": [s.id for s in plan.steps]},
        )
        self._refresh_details()

        def count_usage(step: Step, result: StepResult) -> None:
            if step.kind != StepKind.AGENT:  # an agent step counts each turn as it goes
                state.usage += result.usage
            self._emit(RunEventType.USAGE, step.id, state.usage.model_dump())

        replans_left = run.max_replans if planning.replannable else 0
        while True:
            executor = DagExecutor(
                plan=plan,
                steps={s.id: s for s in state.plan},
                run_step=lambda step, args, index: self._run_step(run, step, args, index),
                emit=self._emit,
                on_step_finished=count_usage,
                outputs=self._outputs,
                run_input={
                    "goal": run.goal,
                    "inputs": run.inputs if planning.inputs is None else planning.inputs,
                },
            )
            try:
                outputs = await executor.run()
                break
            except RunFailed as failure:
                if failure.step_id is None or replans_left <= 0:
                    raise
                replans_left -= 1
                plan = await self._replan(run, plan, failure)
        state.result = self._result_from(plan, outputs)
        self._set_status(RunStatus.COMPLETED)
        self._emit(RunEventType.RUN_FINISHED, None, {"status": RunStatus.COMPLETED})
        return state

    async def _replan(self, run: AgentRunInput, plan: Plan, failure: RunFailed) -> Plan:
        """A revised plan for the remaining work after `failure`: completed steps stay (their
        outputs can be referenced), the rest of the old plan is skipped, the new steps run."""
        state = self._run_state
        completed = [s.id for s in state.plan if s.status == StepStatus.COMPLETED]
        revision = await self._plan(
            run, failed_step=failure.step_id, failure=failure.reason, completed=completed
        )
        state.usage += revision.usage
        for step in state.plan:
            if step.status == StepStatus.PENDING:
                step.status = StepStatus.SKIPPED
                step.error = "replaced by a revised plan"
        known = {s.id for s in plan.steps}
        new_steps = [s for s in revision.plan.steps if s.id not in known]
        state.plan += [
            StepState(id=s.id, kind=s.kind, title=s.title, depends_on=list(s.depends_on))
            for s in new_steps
        ]
        merged = Plan(steps=[*plan.steps, *new_steps], result_step=revision.plan.result_step_id)
        self._emit(
            RunEventType.PLAN_REVISED,
            failure.step_id,
            {
                "reason": failure.reason,
                "planner": revision.planner,
                "steps": [s.id for s in new_steps],
            },
        )
        self._refresh_details()
        return merged

    async def _plan(
        self,
        run: AgentRunInput,
        *,
        failed_step: str | None = None,
        failure: str | None = None,
        completed: list[str] | None = None,
    ) -> PlanningResult:
        if failed_step is None and run.planning is not None:
            return run.planning  # planned before the run started
        request = PlanningInput(
            goal=run.goal,
            planner=run.planner,
            skill=run.skill,
            inputs=run.inputs,
            tenant=run.tenant,
            roles=run.roles,
            plan=None if failed_step else run.plan,
            budget=self._budget(run),
            failed_step=failed_step,
            failure=failure,
            completed=completed or [],
        )
        summary = "revise the plan" if failed_step else "plan the run"
        # No model involved (a plan to check, or the rule planner): a local activity.
        checks_only = failed_step is None and (
            run.plan is not None or run.planner == PlannerName.RULE
        )
        try:
            planning: PlanningResult
            if checks_only and self._patched(LEAN_PATCH):
                planning = await workflow.execute_local_activity(
                    Activity.PLAN_RUN,
                    request,
                    result_type=PlanningResult,
                    start_to_close_timeout=LOCAL_PLANNING_TIMEOUT,
                    retry_policy=RetryPolicy(maximum_attempts=3),
                    summary=summary,
                )
            else:
                planning = await workflow.execute_activity(
                    Activity.PLAN_RUN,
                    request,
                    result_type=PlanningResult,
                    task_queue=queue_for(Activity.PLAN_RUN, run.activity_queues),
                    start_to_close_timeout=PLANNING_TIMEOUT,
                    retry_policy=RetryPolicy(maximum_attempts=3),
                    summary=summary,
                )
            return planning
        except (ActivityError, ApplicationError) as e:
            _stop_if_over_budget(e)
            raise RunFailed(f"planning failed: {_failure_reason(e)}") from None

    async def _record_trace(self) -> None:
        trace = build_trace(self._run_state, list(self._events))
        # Beside the workflow (a local activity) since LEAN_PATCH; on the task queue before.
        execute = (
            workflow.execute_local_activity
            if self._patched(LEAN_PATCH)
            else workflow.execute_activity
        )
        try:
            await execute(
                Activity.RECORD_TRACE,
                trace,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=TRACE_RETRY,
                summary="record the decision trace",
            )
        except (ActivityError, ApplicationError) as e:  # the outcome stands; its audit copy is lost
            workflow.logger.warning(
                "run %s: decision trace not kept: %s", self._run_state.run_id, _failure_reason(e)
            )

    def _budget(self, run: AgentRunInput) -> Budget | None:
        """What the run may still spend, for the next model call to check against."""
        if run.max_tokens is None and run.budget_usd is None:
            return None
        used = self._run_state.usage
        return Budget(
            tokens_left=None
            if run.max_tokens is None
            else run.max_tokens - used.input_tokens - used.output_tokens,
            usd_left=None if run.budget_usd is None else run.budget_usd - used.cost_usd,
        )

    # --- steps ----------------------------------------------------------------------------

    async def _run_step(
        self, run: AgentRunInput, step: Step, args: dict[str, Any], index: int | None
    ) -> StepResult:
        suffix = "" if index is None else f"-{index}"
        inputs = self._inputs_taint(step)
        writes = step.kind == StepKind.TOOL and step.tool in self._side_effect_tools
        # Content from outside (documents, pages, tool output) may carry instructions: whatever
        # derives from it never causes a side effect without a person's approval.
        guarded = writes and inputs.tainted and self._patched(UNTRUSTED_APPROVAL_PATCH)
        if step.kind == StepKind.APPROVAL or step.tool in self._approval_tools or guarded:
            await self._await_approval(step, args, suffix, untrusted=inputs if writes else None)
            if step.kind == StepKind.APPROVAL:
                return StepResult(output={"approved": True})
        if step.kind == StepKind.AGENT:
            result = await self._run_agent(run, step, args, inputs)
            self._note_taint(step, result, inputs)
            return result
        if step.kind == StepKind.SKILL:
            result = await self._run_skill(run, step, args, suffix)
            self._note_taint(step, result, inputs)
            return result
        activity_name: Activity | None = STEP_ACTIVITY.get(step.kind)
        if activity_name is None:
            raise StepFailed(f"steps of kind {step.kind.value!r} cannot run here")
        step_input = StepInput(
            run_id=self._run_state.run_id,
            step_id=step.id,
            tenant=run.tenant,
            user_id=run.user_id,
            args=args,
            tool=step.tool,
            idempotency_key=f"{self._run_state.run_id}/{step.id}{suffix}",
            budget=self._budget(run),
        )
        title = step.title if index is None else f"{step.title} [{index + 1}]"
        retry = self._retry_for(step, step.tool)
        step_input.max_attempts = retry.max_attempts
        try:
            result = await _step_activity(
                activity_name,
                step_input,
                StepResult,
                step,
                retry,
                summary=title,
                queues=run.activity_queues,
            )
        except ActivityError as e:
            _stop_if_over_budget(e)
            attempts = _failure_attempts(e, retry.max_attempts)
            raise StepFailed(_failure_reason(e), attempts=attempts) from None
        self._note_routing(step.id, result.routing)
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
        child_id = f"{self._run_state.run_id}-{step.id}{suffix}"
        try:
            state: RunState = await workflow.execute_child_workflow(
                SKILL_WORKFLOW,
                AgentRunInput(
                    goal=skill.goal or run.goal,
                    tenant=run.tenant,
                    user_id=run.user_id,
                    roles=run.roles,
                    skill=skill.name,
                    inputs=skill.inputs,
                    planner=PlannerName.RULE,
                    budget_usd=run.budget_usd,
                    activity_queues=run.activity_queues,
                ),
                result_type=RunState,
                id=child_id,
                static_summary=f"skill {skill.name} for {step.id}",
            )
        except ChildWorkflowError as e:
            raise StepFailed(f"skill {skill.name!r} failed: {_failure_reason(e)}") from None
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

    def _retry_for(self, step: Step, tool: str | None) -> RetrySpec:
        """The step's retry policy, else the tool's own, else the default for its effects."""
        return effective_retry(
            step,
            side_effects=tool in self._side_effect_tools,
            tool_default=self._tool_retries.get(tool or ""),
        )

    # --- guardrails -----------------------------------------------------------------------

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
        self._record_findings(step.id, result.findings)
        if not (result.untrusted or inputs.tainted):
            return
        taint = self._taint.setdefault(step.id, Taint())
        taint.add(inputs)
        if result.untrusted:
            taint.add(Taint(sources=[step.id], findings=result.findings))

    def _record_findings(self, step_id: str | None, findings: list[Finding]) -> None:
        for finding in findings:
            self._emit(RunEventType.GUARDRAIL, step_id, finding.model_dump())

    def _note_routing(self, step_id: str, notes: list[RoutingNote]) -> None:
        for note in notes:
            self._emit(RunEventType.MODEL_ROUTED, step_id, note.model_dump())

    # --- the agent step -------------------------------------------------------------------

    async def _run_agent(
        self, run: AgentRunInput, step: Step, args: dict[str, Any], inputs: Taint
    ) -> StepResult:
        """A bounded tool-using loop: each model turn is an activity, each tool call it asks for
        is an activity through the registry (several at once in parallel), side-effecting tools
        wait for approval like tool steps. Ends on a final answer, on max_turns or the budget."""
        try:
            agent = AgentStepArgs.model_validate(args)
        except ValueError as e:  # arguments that arrived by reference and do not fit
            raise StepFailed(f"invalid arguments for an agent step: {e}") from None
        state = self._step_state(step.id)
        conversation: list[Message] = []
        usage = Usage()
        # What the agent has read that came from outside: its documents, then tool results.
        seen = Taint()
        seen.add(inputs)
        self._agent_taint[step.id] = seen
        for turn in range(1, agent.max_turns + 1):
            try:
                result = await _step_activity(
                    Activity.AGENT_TURN,
                    AgentTurnInput(
                        run_id=self._run_state.run_id,
                        step_id=step.id,
                        tenant=run.tenant,
                        user_id=run.user_id,
                        turn=turn,
                        args=agent,
                        conversation=conversation,
                        budget=self._budget(run),
                        max_attempts=(step.retry or LLM_TURN_RETRY).max_attempts,
                    ),
                    AgentTurnResult,
                    step,
                    step.retry or LLM_TURN_RETRY,
                    summary=f"{step.title}: turn {turn}",
                    queues=run.activity_queues,
                )
            except ActivityError as e:
                _stop_if_over_budget(e)
                raise StepFailed(f"turn {turn}: {_failure_reason(e)}") from None
            usage += result.usage
            self._run_state.usage += result.usage
            self._note_routing(step.id, result.routing)
            message = result.message
            conversation.append(message)
            record = AgentTurnRecord(turn=turn, text=message.content[:2000], usage=result.usage)
            state.turns.append(record)
            self._emit(
                RunEventType.AGENT_TURN,
                step.id,
                {
                    "turn": turn,
                    "text": message.content[:500],
                    "tool_calls": [c.name for c in message.tool_calls],
                },
            )
            if not message.tool_calls:
                return StepResult(
                    output={"text": message.content, "turns": turn, "citations": []},
                    usage=usage,
                    untrusted=seen.tainted,
                )
            answers = await self._agent_tool_calls(run, step, agent, turn, message, record)
            conversation.extend(answers)
        last = next((m.content for m in reversed(conversation) if m.role == "assistant"), "")
        return StepResult(
            output={
                "text": last,
                "turns": agent.max_turns,
                "stopped": f"max_turns ({agent.max_turns}) reached before a final answer",
                "citations": [],
            },
            usage=usage,
            untrusted=seen.tainted,
        )

    async def _agent_tool_calls(
        self,
        run: AgentRunInput,
        step: Step,
        agent: AgentStepArgs,
        turn: int,
        message: Message,
        record: AgentTurnRecord,
    ) -> list[Message]:
        """Run the tool calls of one turn in parallel; each answer goes back to the model (as
        untrusted data), failures included, so the model can correct itself."""
        return await gather_or_cancel(
            [
                asyncio.create_task(self._agent_tool_call(run, step, agent, turn, i, call, record))
                for i, call in enumerate(message.tool_calls)
            ]
        )

    async def _agent_tool_call(
        self,
        run: AgentRunInput,
        step: Step,
        agent: AgentStepArgs,
        turn: int,
        index: int,
        call: ToolCall,
        record: AgentTurnRecord,
    ) -> Message:
        entry = AgentToolCallRecord(id=call.id, tool=call.name, args=call.arguments)
        record.tool_calls.append(entry)
        suffix = f"-t{turn}-c{index}"

        def answer(content: str) -> Message:
            self._emit(
                RunEventType.AGENT_TOOL_CALL,
                step.id,
                {"turn": turn, **entry.model_dump(mode="json")},
            )
            return Message(role="tool", tool_call_id=call.id, content=content)

        if call.name not in agent.tools:
            entry.status, entry.error = "refused", "not one of this step's tools"
            return answer(f"error: tool {call.name!r} is not available; use one of {agent.tools}")
        if call.name in self._approval_tools or call.name in self._side_effect_tools:
            try:
                seen = self._agent_taint.get(step.id)
                await self._await_approval(
                    step,
                    {"tool": call.name, "args": call.arguments},
                    suffix,
                    reason=f"the agent asks to call {call.name!r}, which has side effects",
                    untrusted=seen if seen is not None and seen.tainted else None,
                )
            except (StepFailed, StepSkipped) as e:
                entry.status, entry.error = "rejected", e.reason
                return answer(f"error: a reviewer did not allow this call: {e.reason}")
        retry = self._retry_for(step, call.name)
        try:
            result = await _step_activity(
                Activity.INVOKE_TOOL,
                StepInput(
                    run_id=self._run_state.run_id,
                    step_id=step.id,
                    tenant=run.tenant,
                    user_id=run.user_id,
                    args=call.arguments,
                    tool=call.name,
                    # Stable across retries and replays: the call id is in the history.
                    idempotency_key=f"{self._run_state.run_id}/{step.id}/t{turn}/{index}",
                    max_attempts=retry.max_attempts,
                ),
                StepResult,
                step,
                retry,
                summary=f"{step.title}: {call.name} (turn {turn})",
                queues=run.activity_queues,
            )
        except ActivityError as e:
            entry.status, entry.error = "failed", _failure_reason(e)
            return answer(f"error: {entry.error}")
        self._record_findings(step.id, result.findings)
        if result.untrusted and step.id in self._agent_taint:
            self._agent_taint[step.id].add(
                Taint(sources=[f"{call.name} (turn {turn})"], findings=result.findings)
            )
        return answer(json.dumps(result.output, default=str))

    async def _await_approval(
        self,
        step: Step,
        args: dict[str, Any],
        suffix: str,
        *,
        reason: str | None = None,
        untrusted: Taint | None = None,
    ) -> None:
        policy = step.approval or ApprovalPolicy()
        approval_id = f"{step.id}{suffix}-approval"
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
        pending = PendingApproval(
            approval_id=approval_id,
            step_id=step.id,
            reason=why,
            untrusted_sources=list(untrusted.sources) if untrusted else [],
            findings=list(untrusted.findings) if untrusted else [],
            args=args,
            args_hash=args_hash(args),
            requested_at=now,
            expires_at=now + timedelta(seconds=policy.timeout_s),
        )
        self._pending[approval_id] = pending
        self._step_state(step.id).status = StepStatus.AWAITING_APPROVAL
        self._emit(RunEventType.APPROVAL_REQUESTED, step.id, pending.model_dump(mode="json"))
        self._sync_waiting_status()
        try:
            await workflow.wait_condition(
                lambda: approval_id in self._decisions,
                timeout=timedelta(seconds=policy.timeout_s),
                timeout_summary=f"approval {approval_id} expires",
            )
        except TimeoutError:
            self._pending.pop(approval_id, None)
            self._answered.add(approval_id)
            self._emit(RunEventType.APPROVAL_EXPIRED, step.id, {"approval_id": approval_id})
            self._step_state(step.id).status = StepStatus.RUNNING
            self._sync_waiting_status()
            if policy.on_timeout == "fail":
                raise RunFailed(
                    f"approval {approval_id!r} was not answered within {policy.timeout_s:g}s",
                    status=RunStatus.TIMED_OUT,
                ) from None
            self._rejected(
                policy,
                f"approval {approval_id!r} was not answered within {policy.timeout_s:g}s "
                "and counts as rejected",
            )
        decision = self._decisions[approval_id]
        self._step_state(step.id).status = StepStatus.RUNNING
        self._sync_waiting_status()
        if decision.decision == "reject":
            who = decision.reviewer or "a reviewer"
            self._rejected(
                policy, f"rejected by {who}" + (f": {decision.comment}" if decision.comment else "")
            )

    @staticmethod
    def _rejected(policy: ApprovalPolicy, reason: str) -> None:
        if policy.on_reject == "skip":
            raise StepSkipped(reason)
        raise StepFailed(reason)

    # --- handlers -----------------------------------------------------------------------

    @workflow.query
    def state(self) -> RunState:
        return self._run_state

    @workflow.query
    def events(self, query: EventsQuery) -> list[RunEvent]:
        return [e for e in self._events if e.seq > query.after_seq]

    @workflow.query
    def step_output(self, query: StepOutputQuery) -> StepOutput:
        step = next((s for s in self._run_state.plan if s.id == query.step_id), None)
        if step is None:
            return StepOutput(step_id=query.step_id)
        return StepOutput(step_id=step.id, status=step.status, output=self._outputs.get(step.id))

    @workflow.update
    async def approve(self, decision: ApprovalDecision) -> ApprovalAck:
        self._check_approval(decision)  # again: it may have been answered since validation
        return self._accept(decision)

    @approve.validator
    def _validate_approve(self, decision: ApprovalDecision) -> None:
        self._check_approval(decision)

    @workflow.signal(name="approve")
    def approve_signal(self, payload: Any) -> None:
        """Takes the raw payload: a malformed signal (sent by hand from the Temporal UI) must be
        reported where the operator looks, not fail to decode in the worker."""
        try:
            decision = ApprovalDecision.model_validate(payload)
        except pydantic.ValidationError as e:
            problems = describe_field_errors(e.errors(), root="payload")
            self._ignore_signal(f"malformed approve signal ({problems})", "MalformedSignal")
            return
        if self._duplicate(decision):
            return  # the same answer again (e.g. the API's durable fallback): already applied
        try:
            self._check_approval(decision)
        except ApplicationError as e:
            self._ignore_signal(e.message, e.type or "ApplicationError")
            return
        self._accept(decision)

    @workflow.signal
    def cancel_run(self, request: CancelRequest) -> None:
        if self._cancel is None:
            self._cancel = request

    def _duplicate(self, decision: ApprovalDecision) -> bool:
        earlier = self._decisions.get(decision.approval_id)
        return (
            earlier is not None
            and earlier.decision == decision.decision
            and earlier.args_hash == decision.args_hash
        )

    def _ignore_signal(self, reason: str, kind: str) -> None:
        self._emit(RunEventType.APPROVAL_SIGNAL_IGNORED, None, {"reason": reason, "type": kind})
        self._ignored_signals = [*self._ignored_signals, reason][-MAX_IGNORED_SIGNALS:]
        self._refresh_details()

    def _check_approval(self, decision: ApprovalDecision) -> None:
        """Raise (type UnknownApproval, ApprovalAlreadyAnswered or ArgsHashMismatch) unless the
        decision answers a pending approval about exactly the arguments it shows."""
        problem = approval_problem(decision, self._pending, self._answered)
        if problem is not None:
            kind, message = problem
            raise ApplicationError(message, type=kind, non_retryable=True)

    def _accept(self, decision: ApprovalDecision) -> ApprovalAck:
        pending = self._pending.pop(decision.approval_id)
        self._decisions[decision.approval_id] = decision
        self._answered.add(decision.approval_id)
        self._emit(
            RunEventType.APPROVAL_ANSWERED,
            pending.step_id,
            {
                "approval_id": decision.approval_id,
                "decision": decision.decision,
                "reviewer": decision.reviewer,
                "comment": decision.comment,
            },
        )
        self._sync_waiting_status()
        return ApprovalAck(
            approval_id=decision.approval_id, decision=decision.decision, step_id=pending.step_id
        )

    # --- state bookkeeping ---------------------------------------------------------------

    @property
    def _run_state(self) -> RunState:
        if self._state is None:  # only before run() starts; handlers run after it
            raise ApplicationError(
                "the run has not started yet", type=FailureType.RUN_NOT_STARTED, non_retryable=True
            )
        return self._state

    def _step_state(self, step_id: str) -> StepState:
        return next(s for s in self._run_state.plan if s.id == step_id)

    def _patched(self, patch_id: str) -> bool:
        """`workflow.patched`, true at once for runs that carry CURRENT_PATCHES."""
        return self._current_patches or workflow.patched(patch_id)

    def _set_status(self, status: RunStatus) -> None:
        state = self._run_state
        if state.status != status:
            state.status = status
            updates: list[SearchAttributeUpdate[Any]] = [sa.STATUS.value_set(status.value)]
            if self._patched(WAITING_SINCE_PATCH):
                updates.append(
                    sa.WAITING_SINCE.value_set(workflow.now())
                    if status == RunStatus.AWAITING_APPROVAL
                    else sa.WAITING_SINCE.value_unset()
                )
            workflow.upsert_search_attributes(updates)
            # One line per status change (the workflow logger is silent during replay).
            workflow.logger.info("run %s: %s", state.run_id, status.value)
        state.updated_at = workflow.now()
        self._refresh_details()

    def _sync_waiting_status(self) -> None:
        self._run_state.pending_approvals = list(self._pending.values())
        if self._run_state.status in (RunStatus.RUNNING, RunStatus.AWAITING_APPROVAL):
            self._set_status(RunStatus.AWAITING_APPROVAL if self._pending else RunStatus.RUNNING)
        else:
            self._refresh_details()

    def _emit(self, kind: RunEventType, step_id: str | None, data: dict[str, Any]) -> None:
        self._seq += 1
        now = workflow.now()
        self._events.append(RunEvent(seq=self._seq, type=kind, at=now, step_id=step_id, data=data))
        if len(self._events) > MAX_EVENTS:
            del self._events[: len(self._events) - MAX_EVENTS]
        if self._state is not None:
            self._state.last_event_seq = self._seq
            self._state.updated_at = now

    def _finish_cancelled(self, request: CancelRequest | None) -> RunState:
        state = self._run_state
        reason = (request.reason if request else None) or "cancelled"
        for step in state.plan:
            if step.status in (
                StepStatus.PENDING,
                StepStatus.RUNNING,
                StepStatus.AWAITING_APPROVAL,
            ):
                step.status = StepStatus.CANCELLED
                step.ended_at = workflow.now()
        self._pending.clear()
        state.pending_approvals = []
        state.error = reason
        self._set_status(RunStatus.CANCELLED)
        self._emit(
            RunEventType.RUN_FINISHED, None, {"status": RunStatus.CANCELLED, "reason": reason}
        )
        return state

    def _refresh_details(self) -> None:
        """The markdown shown as 'current details' in the Temporal UI, the first thing an operator
        reads: pending approvals first and short (the arguments as a readable list, the exact
        signal input on one line), then the plan's table, ignored signals and the error."""
        state = self._state
        if state is None:
            return
        lines = [f"**Status:** {state.status}"]
        for p in self._pending.values():
            signal = json.dumps(
                {"approval_id": p.approval_id, "decision": "approve", "args_hash": p.args_hash},
                separators=(",", ":"),
            )
            lines += [
                "",
                f"**Awaiting approval** for step `{p.step_id}`: {p.reason}. "
                f"Expires {p.expires_at:%Y-%m-%d %H:%M} UTC.",
                *[f"- {name}: {_readable(value)}" for name, value in p.args.items()],
                f"Send a Signal `approve` with `{signal}` "
                '(`"decision":"reject"` and a `"comment"` to reject), '
                f"or run `aios approve {state.run_id} {p.approval_id}`.",
            ]
        if state.plan:
            lines += ["", "| step | status | attempts |", "|---|---|---|"]
            lines += [f"| {s.title} | {s.status} | {s.attempts} |" for s in state.plan]
        if self._ignored_signals:
            lines += ["", "**Ignored signals** (newest last):"]
            lines += [f"- {reason}" for reason in self._ignored_signals]
        if state.error:
            lines += ["", f"**Error:** {state.error}"]
        workflow.set_current_details("\n".join(lines))

    @staticmethod
    def _result_from(plan: Plan, outputs: dict[str, Any]) -> RunResult:
        output = outputs.get(plan.result_step_id)
        if isinstance(output, dict) and isinstance(output.get("text"), str):
            citations = [
                Citation.model_validate(c)
                for c in output.get("citations") or []
                if isinstance(c, dict) and "source" in c
            ]
            grounded = output.get("grounded")
            return RunResult(
                answer=output["text"],
                citations=citations,
                grounded=grounded if isinstance(grounded, bool) else None,
            )
        if output is None:
            return RunResult(answer=f"step {plan.result_step_id!r} produced no output")
        return RunResult(answer=json.dumps(output, indent=2, default=str))


async def _step_activity(
    activity: Activity,
    arg: Any,
    result_type: type[R],
    step: Step,
    retry: RetrySpec,
    *,
    summary: str,
    queues: dict[str, str],
) -> R:
    """An activity on behalf of a step, under the step's timeout, heartbeat and retry policy. A
    crashed worker is noticed within the step's heartbeat timeout and the call goes elsewhere."""
    result: R = await workflow.execute_activity(
        activity,
        arg,
        result_type=result_type,
        task_queue=queue_for(activity, queues),
        start_to_close_timeout=timedelta(seconds=step.timeout_s),
        heartbeat_timeout=timedelta(
            seconds=min(step.heartbeat_timeout_s or HEARTBEAT_TIMEOUT_S, step.timeout_s)
        ),
        retry_policy=RetryPolicy(
            initial_interval=timedelta(seconds=retry.initial_interval_s),
            backoff_coefficient=retry.backoff,
            maximum_interval=timedelta(seconds=retry.max_interval_s),
            maximum_attempts=retry.max_attempts,
        ),
        summary=summary,
    )
    return result


def _readable(value: Any, limit: int = 160) -> str:
    """An argument for a person: text as it is (one line, cut), anything else as compact JSON."""
    return one_line(value if isinstance(value, str) else json.dumps(value, default=str), limit)


def _stop_if_over_budget(error: ActivityError | ApplicationError) -> None:
    """A model call refused for the run's budget stops the whole run, with the reason."""
    cause = _cause(error)
    if isinstance(cause, ApplicationError) and cause.type == FailureType.BUDGET_EXCEEDED:
        raise RunFailed(cause.message)


def _cause(error: ActivityError | ChildWorkflowError | ApplicationError) -> BaseException | None:
    """What went wrong inside an activity. A local activity's non-retryable failure arrives as
    the ApplicationError itself, not wrapped in an ActivityError."""
    return error if isinstance(error, ApplicationError) else error.cause


def _failure_reason(error: ActivityError | ChildWorkflowError | ApplicationError) -> str:
    cause = _cause(error)
    if isinstance(cause, ApplicationError):
        return cause.message
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"
    return str(error)


def _failure_attempts(error: ActivityError, max_attempts: int) -> int:
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.details:
        first = cause.details[0]
        if isinstance(first, dict) and isinstance(first.get("attempt"), int):
            return int(first["attempt"])
    if error.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
        return max_attempts
    return 1
