"""A run's state as `GET /v1/runs/{id}` serves it, readable at once whatever the worker is doing:

- a run that has ended by itself: from its result (no worker needed);
- a run no worker has begun yet: from its start request (the goal, and the plan when the API
  planned it), without asking a worker anything;
- otherwise from its state query; when no worker answers in time, the last state the API saw
  (`run_snapshots`) or else the start request, marked stale with the real reason (no worker
  polling the run's task queue, or workers too busy to answer in time);
- 503 only when Temporal itself cannot be read, saying so.

A run reads as ended only once its workflow has closed: a client that then asks Temporal gets
the same answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from aios import search_attributes as sa
from aios.approvals import approval_problem
from aios.config import Settings
from aios.errors import AiosError, Conflict, Forbidden, NotFound, TransientError, ValidationFailed
from aios.models import AgentRunInput, ApprovalDecision, RunState, StepState
from aios.stores import RunSnapshotStore
from aios.vocabulary import TERMINAL_STATUSES, FailureType, RunStatus
from api.temporal_reads import (
    CLOSED_STATUS,
    QUERY_FAILED,
    UNREACHABLE,
    query_within,
    read_within,
    status_of,
)
from workflows.agent_run import AgentRunWorkflow

# A workflow's history before its first workflow task completes: started, task scheduled, task
# started. Until then none of its code has run: its state is what its start request says.
_EVENTS_BEFORE_FIRST_TASK = 3


async def current_state(
    temporal: Client,
    handle: WorkflowHandle[Any, Any],
    description: WorkflowExecutionDescription,
    settings: Settings,
    snapshots: RunSnapshotStore,
) -> RunState:
    """The run's state (see the module's docstring for where each answer comes from)."""
    if description.status in (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.FAILED):
        final = await _final_state(handle, settings)
        if final is not None:
            return final
    running = description.status == WorkflowExecutionStatus.RUNNING
    if running and _not_begun(description):
        return await state_from_start(temporal, handle, description, settings)
    try:
        state: RunState = await query_within(
            settings,
            handle.query(
                AgentRunWorkflow.state, rpc_timeout=timedelta(seconds=settings.query_timeout_s)
            ),
        )
    except QUERY_FAILED as e:
        reason = await _why_unanswered(temporal, description, settings, e)
        return await _last_known_state(temporal, handle, description, snapshots, settings, reason)
    closed = CLOSED_STATUS.get(description.status) if description.status else None
    if closed is None and state.status in TERMINAL_STATUSES:
        # The run has decided how it ends but its workflow has not closed yet: it reads as
        # running until it has (a long poll with `wait_s` answers at the close).
        state.status = RunStatus.RUNNING
    elif closed is not None and state.status not in TERMINAL_STATUSES:
        # Ended from outside, e.g. terminated in the Temporal UI.
        state.status = closed
        state.error = state.error or "the workflow was ended outside AIOS"
    with contextlib.suppress(TransientError):  # the snapshot is a fallback; the answer matters
        await snapshots.save(state)
    return state


def _not_begun(description: WorkflowExecutionDescription) -> bool:
    info = description.raw_description.workflow_execution_info
    return 0 < info.history_length <= _EVENTS_BEFORE_FIRST_TASK


async def state_from_start(
    temporal: Client,
    handle: WorkflowHandle[Any, Any],
    description: WorkflowExecutionDescription,
    settings: Settings,
) -> RunState:
    """The state a run has before its code runs, from its start request (the first event of its
    history): queued, with its goal and owner, and its plan's steps when it was planned before it
    started. Needs Temporal, not a worker."""

    async def start_request() -> AgentRunInput:
        async for event in handle.fetch_history_events(page_size=1):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            decoded = await temporal.data_converter.decode(payloads, [AgentRunInput])
            run_input: AgentRunInput = decoded[0]
            return run_input
        raise TransientError(f"run {handle.id} has no history yet")

    run_input = await read_within(settings, start_request(), f"the start of run {handle.id}")
    plan = run_input.planning.plan if run_input.planning is not None else run_input.plan
    created = description.start_time
    assert created is not None  # a started workflow has its start time
    return RunState(
        run_id=handle.id,
        status=status_of(description.status, description.typed_search_attributes.get(sa.STATUS)),
        goal=run_input.goal,
        tenant=run_input.tenant,
        user_id=run_input.user_id,
        plan=[StepState.of(step) for step in plan.steps] if plan is not None else [],
        created_at=created,
        updated_at=created,
    )


async def _final_state(handle: WorkflowHandle[Any, Any], settings: Settings) -> RunState | None:
    """The state a run ended with, read from its close event (completed: the result; failed: the
    failure's details)."""
    try:
        result = await asyncio.wait_for(handle.result(), settings.read_timeout_s)
        return RunState.model_validate(result) if not isinstance(result, RunState) else result
    except WorkflowFailureError as e:
        cause = e.cause
        if isinstance(cause, ApplicationError) and cause.details:
            try:
                return RunState.model_validate(cause.details[0])
            except ValueError:
                return None
        return None
    except (TimeoutError, ValueError, *UNREACHABLE):
        return None


async def _why_unanswered(
    temporal: Client,
    description: WorkflowExecutionDescription,
    settings: Settings,
    error: BaseException,
) -> str:
    """Why the state query went unanswered, in words an operator can act on."""
    if isinstance(error, WorkflowQueryFailedError):
        return f"the run's worker could not answer its state query: {error}"
    # The query's own deadline passing is a CANCELLED (or DEADLINE_EXCEEDED) RPC error.
    timed_out = isinstance(error, TimeoutError) or (
        isinstance(error, RPCError)
        and error.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)
    )
    if not timed_out:
        return f"Temporal could not pass the state query on: {getattr(error, 'message', error)}"
    queue = description.task_queue
    try:
        described = await asyncio.wait_for(
            temporal.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=temporal.namespace,
                    task_queue=TaskQueue(name=queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            ),
            settings.read_timeout_s,
        )
    except (TimeoutError, *UNREACHABLE):
        return f"no worker answered the state query within {settings.query_timeout_s:g}s"
    if not described.pollers:
        return (
            f"no worker answered the state query: none is polling the run's task queue "
            f"{queue!r} (start one: `aios worker`)"
        )
    last = max(p.last_access_time.ToDatetime() for p in described.pollers)
    return (
        f"no worker answered the state query within {settings.query_timeout_s:g}s: "
        f"{len(described.pollers)} polled task queue {queue!r} lately (the last at "
        f"{last:%H:%M:%S} UTC) and are busy or have stopped"
    )


async def _last_known_state(
    temporal: Client,
    handle: WorkflowHandle[Any, Any],
    description: WorkflowExecutionDescription,
    snapshots: RunSnapshotStore,
    settings: Settings,
    reason: str,
) -> RunState:
    """The freshest state known without a worker: the last one seen, else the start request."""
    status = status_of(description.status, description.typed_search_attributes.get(sa.STATUS))
    tenant = description.typed_search_attributes.get(sa.TENANT) or "default"
    known = None
    with contextlib.suppress(TransientError):  # PostgreSQL down: the start request still serves
        known = await snapshots.get(description.id, tenant)
    if known is not None:
        state, observed_at = known
        state.stale_reason = f"{reason}; this is the state last seen at {observed_at.isoformat()}"
    else:
        state = await state_from_start(temporal, handle, description, settings)
        state.stale_reason = f"{reason}; this is the run as it was started"
    state.status = status  # search attributes are fresher than what is kept
    state.stale = True
    return state


def approval_error(kind: str | None, message: str) -> AiosError:
    """An approval the run refuses: 404 when it does not know the approval, 409 otherwise (already
    answered, or the arguments changed since the caller looked)."""
    if kind == FailureType.NOT_AN_APPROVER:
        return Forbidden(message)
    if kind == FailureType.ANSWER_EDIT_REFUSED:
        return ValidationFailed(message)
    return NotFound(message) if kind == FailureType.UNKNOWN_APPROVAL else Conflict(message)


async def check_against_last_known(
    snapshots: RunSnapshotStore, run_id: str, decision: ApprovalDecision, tenant: str
) -> str:
    """Refuse an answer the last known state shows to be wrong (the same rules the workflow
    applies); returns the step it answers ('' when the API has not seen the run's state yet)."""
    known = await snapshots.get(run_id, tenant)
    if known is None:
        return ""
    state, _ = known
    pending = {p.approval_id: p for p in state.pending_approvals}
    problem = approval_problem(decision, pending)
    if problem is not None:
        raise approval_error(*problem)
    return pending[decision.approval_id].step_id
