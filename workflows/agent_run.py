"""`AgentRunWorkflow`: one agent run, from goal to answer, durably.

Plan -> act -> observe: the planner (an activity) turns the goal into a plan, the DAG executor runs
its steps as activities (parallel where the plan allows), each step's output is observed into the
run state, and the result step's output becomes the answer with its citations. A failed step may
have the plan revised (bounded by `max_replans`).

This class is the shell: it holds the run's lifecycle and its handlers, and the parts do the work
(workflows/run/): the run journal (state, events, status, details, trace), the approval gate,
planning, and the step runner, whose `agent` steps run the agent loop shared with chat
(workflows/agent_loop.py). The patch gates the parts check are listed in workflows/patches.py.

Queries:
    state -> RunState: everything `GET /v1/runs/{id}` shows.
    events(EventsQuery) -> list[RunEvent]: the progress log after a sequence number (for SSE).
    step_output(StepOutputQuery) -> StepOutput: a step's full output (`output_ref` of a step).
Updates:
    approve(ApprovalDecision) -> ApprovalAck: answer a pending approval. The validator rejects an
        unknown or already answered approval id and an `args_hash` that does not match.
Signals:
    approve(ApprovalDecision): the same answer for senders that cannot use updates (the Temporal
        Web UI's "Send a Signal"); an invalid one is ignored and logged as an event.
    cancel_run(CancelRequest): stop the run; in-flight activities learn of it through heartbeats.
        A Temporal cancellation request (the UI's Cancel button) has the same effect.
    child_approvals(ChildApprovals): a skill step's child run waits for a person (or no longer);
        the run shows `awaiting_approval` while one does. Reports not from its children are
        ignored.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

# Models and pure modules are shared with the host process. This module is imported afresh for
# every run in the sandbox; the DAG executor is shared too (workers/main.py says why).
with workflow.unsafe.imports_passed_through():
    from aios.models import (
        AgentRunInput,
        ApprovalAck,
        ApprovalDecision,
        CancelRequest,
        ChildApprovals,
        EventsQuery,
        RunEvent,
        RunState,
        StepOutput,
        StepOutputQuery,
        StepResult,
    )
    from aios.plan import Step
    from aios.vocabulary import FailureType, RunEventType, RunStatus, StepKind

    # The run's parts and the agent loop, shared like the DAG executor (workers/main.py): they
    # keep no state between runs (a run's state lives in the instances it creates), and defining
    # them again in the sandbox for every run took ~0.7 ms of CPU per run (the per-run import of
    # this module went from ~1.1 to ~1.8 ms when they were split out of it).
    from workflows.patches import CURRENT_PATCHES, TRACE_PATCH, RunPatches
    from workflows.run.approval_gate import ApprovalGate
    from workflows.run.calls import ToolRules
    from workflows.run.journal import CHILD_APPROVALS_SIGNAL, RunJournal
    from workflows.run.planning import RunPlanner
    from workflows.run.review import AnswerReviewer
    from workflows.run.steps import SKILL_WORKFLOW, StepRunner

from workflows.dag import DagExecutor, RunFailed

# Imported from here by the API (the generation its runs name) and by workflows/skill.py.
__all__ = ["CURRENT_PATCHES", "SKILL_WORKFLOW", "AgentRunWorkflow"]


@workflow.defn
class AgentRunWorkflow:
    def __init__(self) -> None:
        self._patches = RunPatches()
        self._journal = RunJournal(self._patches)
        self._gate = ApprovalGate(self._journal)
        self._planner = RunPlanner(self._journal, self._patches)
        self._tools = ToolRules()
        self._reviewer = AnswerReviewer(self._journal, self._gate)
        self._steps = StepRunner(
            self._journal, self._gate, self._tools, self._patches, self._reviewer
        )
        self._cancel: CancelRequest | None = None

    # --- main ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, run: AgentRunInput) -> RunState:
        self._patches.start(run.patches)
        self._journal.start(run)
        self._gate.for_run(run)
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
            if not (cancelled_in_temporal or dropped) and self._patches.has(TRACE_PATCH):
                await self._journal.record_trace()

    async def _until_finished(self, run: AgentRunInput) -> RunState:
        work = asyncio.create_task(self._plan_and_execute(run))
        try:
            await workflow.wait_condition(lambda: work.done() or self._cancel is not None)
            if not work.done():
                work.cancel()
                await workflow.wait([work])
                return self._journal.cancelled(self._cancel)
            return work.result()
        except asyncio.CancelledError:
            # A Temporal cancellation request: stop the work, record it, end as Canceled.
            work.cancel()
            await workflow.wait([work])
            self._journal.cancelled(CancelRequest(reason="cancellation requested in Temporal"))
            raise
        except RunFailed as e:
            state = self._journal.fail(e.status, e.reason)
            raise ApplicationError(
                e.reason,
                state,
                type=FailureType.RUN_TIMED_OUT
                if e.status == RunStatus.TIMED_OUT
                else FailureType.RUN_FAILED,
                non_retryable=True,
            ) from None

    async def _plan_and_execute(self, run: AgentRunInput) -> RunState:
        journal = self._journal
        state = journal.state
        planning = await self._planner.plan(run)
        self._tools.adopt(planning)
        plan = self._planner.adopt(run, planning)
        self._reviewer.adopt(run, plan)

        def count_usage(step: Step, result: StepResult) -> None:
            if step.kind != StepKind.AGENT:  # an agent step counts each turn as it goes
                state.usage += result.usage
            journal.emit(RunEventType.USAGE, step.id, state.usage.model_dump())

        replans_left = run.max_replans if planning.replannable else 0
        while True:
            executor = DagExecutor(
                plan=plan,
                steps={s.id: s for s in state.plan},
                run_step=lambda step, args, index: self._steps.run(run, step, args, index),
                emit=journal.emit,
                on_step_finished=count_usage,
                outputs=journal.outputs,
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
                plan = await self._planner.replan(run, plan, failure)
                self._reviewer.adopt(run, plan)
        return journal.complete(plan, outputs)

    # --- handlers -----------------------------------------------------------------------

    @workflow.query
    def state(self) -> RunState:
        return self._journal.state

    @workflow.query
    def events(self, query: EventsQuery) -> list[RunEvent]:
        return [e for e in self._journal.events if e.seq > query.after_seq]

    @workflow.query
    def step_output(self, query: StepOutputQuery) -> StepOutput:
        journal = self._journal
        step = next((s for s in journal.state.plan if s.id == query.step_id), None)
        if step is None:
            return StepOutput(step_id=query.step_id)
        return StepOutput(step_id=step.id, status=step.status, output=journal.outputs.get(step.id))

    @workflow.update
    async def approve(self, decision: ApprovalDecision) -> ApprovalAck:
        self._gate.check(decision)  # again: it may have been answered since validation
        return self._gate.accept(decision)

    @approve.validator
    def _validate_approve(self, decision: ApprovalDecision) -> None:
        self._gate.check(decision)

    @workflow.signal(name="approve")
    def approve_signal(self, payload: Any) -> None:
        """Takes the raw payload: a malformed signal (sent by hand from the Temporal UI) must be
        reported where the operator looks, not fail to decode in the worker."""
        self._gate.signalled(payload)

    @workflow.signal(name=CHILD_APPROVALS_SIGNAL)
    def child_approvals(self, report: ChildApprovals) -> None:
        self._journal.child_waiting(report)

    @workflow.signal
    def cancel_run(self, request: CancelRequest) -> None:
        if self._cancel is None:
            self._cancel = request
