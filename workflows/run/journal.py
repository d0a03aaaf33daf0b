"""The run journal: what an agent run records about itself.

Its state (`RunState`, what `GET /v1/runs/{id}` shows), its progress events (for the event
stream, bounded), the steps' outputs, its status as a search attribute, the markdown "current
details" of the Temporal UI, and, when it ends, its decision trace. The approval gate writes the
pending approvals and the ignored signals here; the journal shows them.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

    from aios import search_attributes as sa
    from aios.guardrails import Finding
    from aios.models import (
        AgentRunInput,
        Budget,
        CancelRequest,
        ChildApprovals,
        Citation,
        PendingApproval,
        RoutingNote,
        RunCap,
        RunEvent,
        RunResult,
        RunState,
        StepState,
    )
    from aios.plan import Plan
    from aios.quality import AnswerReview, Confidence
    from aios.text import one_line
    from aios.trace import build_trace
    from aios.vocabulary import Activity, FailureType, RunEventType, RunStatus, StepStatus

from workflows.patches import (
    CHILD_APPROVALS_PATCH,
    LEAN_PATCH,
    WAITING_SINCE_PATCH,
    RunPatches,
)
from workflows.run.calls import failure_reason

# The progress log keeps this many recent events; older ones are dropped (histories and query
# answers stay bounded however long a run is).
MAX_EVENTS = 1000
TRACE_RETRY = RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=10))
# The parent run's signal a skill step's child run reports its waiting on (ChildApprovals).
CHILD_APPROVALS_SIGNAL = "child_approvals"


class RunJournal:
    def __init__(self, patches: RunPatches) -> None:
        self._patches = patches
        self._state: RunState | None = None
        self.events: list[RunEvent] = []
        self._seq = 0
        # Each step's full output (the `step_output` query), filled by the DAG executor.
        self.outputs: dict[str, Any] = {}
        # Written by the approval gate, shown in the state and the current details.
        self.pending: dict[str, PendingApproval] = {}
        self.ignored_signals: list[str] = []
        # The run's conversation, if any: its answer is appended there by the trace activity.
        self._session_id: str | None = None
        # Skill steps' child runs that wait for a person now (their ChildApprovals reports).
        self.children_waiting: set[str] = set()
        # Set for a skill step's child run (SkillWorkflow): it reports its waiting to its parent.
        self.reports_to_parent = False
        self._reports: list[asyncio.Task[None]] = []

    @property
    def patches(self) -> RunPatches:
        """The run's patch gates (for the parts that share the journal)."""
        return self._patches

    def start(self, run: AgentRunInput) -> None:
        self._session_id = run.session_id
        now = workflow.now()
        self._state = RunState(
            run_id=workflow.info().workflow_id,
            goal=run.goal,
            tenant=run.tenant,
            user_id=run.user_id,
            created_at=now,
            updated_at=now,
            versions=run.versions,
        )
        # The API starts runs with their owner's attributes set; runs started otherwise get them.
        started_with = workflow.info().typed_search_attributes
        if not (self._patches.has(LEAN_PATCH) and started_with.get(sa.TENANT) == run.tenant):
            workflow.upsert_search_attributes(
                [sa.TENANT.value_set(run.tenant), sa.USER.value_set(run.user_id)]
            )
        self.set_status(RunStatus.RUNNING)
        self.emit(RunEventType.RUN_STARTED, None, {"goal": run.goal})
        self.record_findings(None, run.input_findings)

    @property
    def state(self) -> RunState:
        if self._state is None:  # only before run() starts; handlers run after it
            raise ApplicationError(
                "the run has not started yet", type=FailureType.RUN_NOT_STARTED, non_retryable=True
            )
        return self._state

    def step_state(self, step_id: str) -> StepState:
        return next(s for s in self.state.plan if s.id == step_id)

    def budget(self, run: AgentRunInput) -> Budget | None:
        """What the run may still spend, for the next model call to check against."""
        spend = (run.parent_runs, run.skill, run.schedule_id, run.key_id)
        if run.max_tokens is None and run.budget_usd is None and not any(spend):
            return None
        used = self.state.usage
        own = RunCap(run_id=self.state.run_id, usd=run.budget_usd, tokens=run.max_tokens)
        return Budget(
            tokens_left=None
            if run.max_tokens is None
            else run.max_tokens - used.input_tokens - used.output_tokens,
            usd_left=None if run.budget_usd is None else run.budget_usd - used.cost_usd,
            runs=[own, *run.parent_runs],
            skill=run.skill,
            schedule_id=run.schedule_id,
            key_id=run.key_id,
        )

    # --- status ---------------------------------------------------------------------------

    def set_status(self, status: RunStatus) -> None:
        state = self.state
        if state.status != status:
            before, state.status = state.status, status
            updates: list[SearchAttributeUpdate[Any]] = [sa.STATUS.value_set(status.value)]
            if self._patches.has(WAITING_SINCE_PATCH):
                updates.append(
                    sa.WAITING_SINCE.value_set(workflow.now())
                    if status == RunStatus.AWAITING_APPROVAL
                    else sa.WAITING_SINCE.value_unset()
                )
            workflow.upsert_search_attributes(updates)
            # One line per status change (the workflow logger is silent during replay).
            workflow.logger.info("run %s: %s", state.run_id, status.value)
            if RunStatus.AWAITING_APPROVAL in (before, status):
                self._report_to_parent(status == RunStatus.AWAITING_APPROVAL)
        state.updated_at = workflow.now()
        self.refresh_details()

    def sync_waiting_status(self) -> None:
        self.state.pending_approvals = list(self.pending.values())
        if self.state.status in (RunStatus.RUNNING, RunStatus.AWAITING_APPROVAL):
            waiting = bool(self.pending or self.children_waiting)
            self.set_status(RunStatus.AWAITING_APPROVAL if waiting else RunStatus.RUNNING)
        else:
            self.refresh_details()

    def child_waiting(self, report: ChildApprovals) -> None:
        """A skill step's child run waits for a person now (or no longer): this run shows
        `awaiting_approval` while any does. Only this run's own children count (their ids
        begin with its id); a report from anywhere else is ignored."""
        if self._state is None or not report.run_id.startswith(f"{self._state.run_id}-"):
            self.ignored_signals.append(f"child_approvals from {one_line(report.run_id, 100)}")
            return
        known = report.run_id in self.children_waiting
        if report.waiting == known:
            return
        if report.waiting:
            self.children_waiting.add(report.run_id)
        else:
            self.children_waiting.discard(report.run_id)
        self.sync_waiting_status()

    def child_finished(self, child_run_id: str) -> None:
        """The child run ended (however): it waits for nobody any more."""
        if child_run_id in self.children_waiting:
            self.child_waiting(ChildApprovals(run_id=child_run_id, waiting=False))

    def _report_to_parent(self, waiting: bool) -> None:
        """A skill step's child run tells its parent that it waits for a person (or no
        longer), so the parent shows it."""
        parent = workflow.info().parent
        if not (
            self.reports_to_parent
            and parent is not None
            and self._patches.has(CHILD_APPROVALS_PATCH)
        ):
            return
        report = ChildApprovals(run_id=self.state.run_id, waiting=waiting)
        handle = workflow.get_external_workflow_handle(parent.workflow_id, run_id=parent.run_id)

        async def send() -> None:
            try:
                await handle.signal(CHILD_APPROVALS_SIGNAL, report)
            except Exception as e:  # the parent has ended: nobody to tell
                workflow.logger.warning("run %s: parent not told: %s", report.run_id, e)

        self._reports.append(asyncio.create_task(send()))

    def complete(self, plan: Plan, outputs: dict[str, Any]) -> RunState:
        state = self.state
        state.result = result_from(plan, outputs)
        self.set_status(RunStatus.COMPLETED)
        self.emit(RunEventType.RUN_FINISHED, None, {"status": RunStatus.COMPLETED})
        return state

    def fail(self, status: RunStatus, reason: str) -> RunState:
        state = self.state
        state.error = reason
        self.set_status(status)
        self.emit(RunEventType.RUN_FINISHED, None, {"status": status, "error": reason})
        return state

    def cancelled(self, request: CancelRequest | None) -> RunState:
        state = self.state
        reason = (request.reason if request else None) or "cancelled"
        for step in state.plan:
            if step.status in (
                StepStatus.PENDING,
                StepStatus.RUNNING,
                StepStatus.AWAITING_APPROVAL,
            ):
                step.status = StepStatus.CANCELLED
                step.ended_at = workflow.now()
        self.pending.clear()
        state.pending_approvals = []
        state.error = reason
        self.set_status(RunStatus.CANCELLED)
        self.emit(
            RunEventType.RUN_FINISHED, None, {"status": RunStatus.CANCELLED, "reason": reason}
        )
        return state

    # --- events ---------------------------------------------------------------------------

    def emit(self, kind: RunEventType, step_id: str | None, data: dict[str, Any]) -> None:
        self._seq += 1
        now = workflow.now()
        self.events.append(RunEvent(seq=self._seq, type=kind, at=now, step_id=step_id, data=data))
        if len(self.events) > MAX_EVENTS:
            del self.events[: len(self.events) - MAX_EVENTS]
        if self._state is not None:
            self._state.last_event_seq = self._seq
            self._state.updated_at = now

    def record_findings(self, step_id: str | None, findings: list[Finding]) -> None:
        for finding in findings:
            self.emit(RunEventType.GUARDRAIL, step_id, finding.model_dump())

    def note_routing(self, step_id: str, notes: list[RoutingNote]) -> None:
        for note in notes:
            self.emit(RunEventType.MODEL_ROUTED, step_id, note.model_dump())

    async def record_trace(self) -> None:
        """The decision trace, kept past Temporal's retention."""
        trace = build_trace(self.state, list(self.events), session_id=self._session_id)
        # Beside the workflow (a local activity) since LEAN_PATCH; on the task queue before.
        execute = (
            workflow.execute_local_activity
            if self._patches.has(LEAN_PATCH)
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
                "run %s: decision trace not kept: %s", self.state.run_id, failure_reason(e)
            )

    # --- the Temporal UI --------------------------------------------------------------------

    def refresh_details(self) -> None:
        """The markdown shown as 'current details' in the Temporal UI, the first thing an operator
        reads: pending approvals first and short (the arguments as a readable list, the exact
        signal input on one line), then the plan's table, ignored signals and the error."""
        state = self._state
        if state is None:
            return
        lines = [f"**Status:** {state.status}"]
        for p in self.pending.values():
            signal = json.dumps(
                {"approval_id": p.approval_id, "decision": "approve", "args_hash": p.args_hash},
                separators=(",", ":"),
            )
            lines += [
                "",
                f"**Awaiting approval** for step `{p.step_id}`: {p.reason}. "
                f"Expires {p.expires_at:%Y-%m-%d %H:%M} UTC.",
                *[f"- {name}: {_readable(value)}" for name, value in p.args.items()],
                # What it is about, unless an argument already shows it (a draft passed on).
                *[
                    f"- output of `{c.step_id}`: {_readable(c.text, 400)}"
                    for c in p.about
                    if c.text not in _texts(p.args)
                ],
                *(
                    [f"Self-approval allowed by policy `{p.self_approval_policy}`."]
                    if p.self_approval_policy
                    else []
                ),
                f"Send a Signal `approve` with `{signal}` "
                '(`"decision":"reject"` and a `"comment"` to reject), '
                f"or run `aios approve {state.run_id} {p.approval_id}`.",
            ]
        if state.plan:
            lines += ["", "| step | status | attempts |", "|---|---|---|"]
            lines += [f"| {s.title} | {s.status} | {s.attempts} |" for s in state.plan]
        if self.ignored_signals:
            lines += ["", "**Ignored signals** (newest last):"]
            lines += [f"- {reason}" for reason in self.ignored_signals]
        if state.error:
            lines += ["", f"**Error:** {state.error}"]
        workflow.set_current_details("\n".join(lines))


def result_from(plan: Plan, outputs: dict[str, Any]) -> RunResult:
    """The run's answer: the result step's text and citations, or its output as JSON."""
    output = outputs.get(plan.result_step_id)
    if isinstance(output, dict) and isinstance(output.get("text"), str):
        citations = [
            Citation.model_validate(c)
            for c in output.get("citations") or []
            if isinstance(c, dict) and "source" in c
        ]
        grounded = output.get("grounded")
        confidence, review = output.get("confidence"), output.get("review")
        return RunResult(
            answer=output["text"],
            citations=citations,
            grounded=grounded if isinstance(grounded, bool) else None,
            confidence=_parsed(Confidence, confidence),
            review=_parsed(AnswerReview, review),
        )
    if output is None:
        return RunResult(answer=f"step {plan.result_step_id!r} produced no output")
    return RunResult(answer=json.dumps(output, indent=2, default=str))


_Shape = TypeVar("_Shape", bound=BaseModel)


def _parsed(shape: type[_Shape], value: Any) -> _Shape | None:
    """`value` as `shape` when it is one (a tool's output may carry keys of the same name)."""
    if not isinstance(value, dict):
        return None
    try:
        return shape.model_validate(value)
    except ValidationError:
        return None


def _texts(args: Any) -> list[str]:
    """The text arguments of an approval (to show an output they already carry once)."""
    return [v for v in args.values() if isinstance(v, str)] if isinstance(args, dict) else []


def _readable(value: Any, limit: int = 160) -> str:
    """An argument for a person: text as it is (one line, cut), anything else as compact JSON."""
    return one_line(value if isinstance(value, str) else json.dumps(value, default=str), limit)
