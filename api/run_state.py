"""A run's state as `GET /v1/runs/{id}` serves it: from the run's result when it ended by itself
(no worker needed), else from its state query; when no worker answers, the last state the API saw
(`run_snapshots`), marked stale with the reason; 503 when there is none."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import (
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.exceptions import ApplicationError

from aios import search_attributes as sa
from aios.approvals import approval_problem
from aios.config import Settings
from aios.errors import AiosError, Conflict, NotFound, TransientError
from aios.models import ApprovalDecision, RunState
from aios.stores import RunSnapshotStore
from aios.vocabulary import TERMINAL_STATUSES, FailureType, RunStatus
from api.temporal_reads import CLOSED_STATUS, QUERY_FAILED, UNREACHABLE, query_within, status_of
from workflows.agent_run import AgentRunWorkflow


async def current_state(
    handle: WorkflowHandle[Any, Any],
    description: WorkflowExecutionDescription,
    settings: Settings,
    snapshots: RunSnapshotStore,
) -> RunState:
    """The run's state: from its result when it has ended by itself (no worker needed), else
    from its state query; when no worker answers, the last state seen, marked stale."""
    recorded = description.typed_search_attributes.get(sa.STATUS)
    if description.status in (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.FAILED):
        final = await _final_state(handle, settings)
        if final is not None:
            return final
    try:
        state: RunState = await query_within(
            settings,
            handle.query(
                AgentRunWorkflow.state, rpc_timeout=timedelta(seconds=settings.query_timeout_s)
            ),
        )
    except QUERY_FAILED as e:
        return await _last_known_state(description, recorded, snapshots, settings, e)
    if state.status not in TERMINAL_STATUSES:
        closed = CLOSED_STATUS.get(description.status) if description.status else None
        if closed is not None:  # ended from outside, e.g. terminated in the Temporal UI
            state.status = closed
            state.error = state.error or "the workflow was ended outside AIOS"
    with contextlib.suppress(TransientError):  # the snapshot is a fallback; the answer matters
        await snapshots.save(state)
    return state


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


async def _last_known_state(
    description: WorkflowExecutionDescription,
    recorded: str | None,
    snapshots: RunSnapshotStore,
    settings: Settings,
    error: Exception,
) -> RunState:
    status = status_of(description.status, recorded)
    tenant = description.typed_search_attributes.get(sa.TENANT) or "default"
    known = await snapshots.get(description.id, tenant)
    if known is not None:
        state, observed_at = known
        state.status = status  # search attributes are fresher than the snapshot
        state.stale = True
        state.stale_reason = (
            f"no worker answered the state query ({type(error).__name__}); this is the state "
            f"last seen at {observed_at.isoformat()}"
        )
        return state
    if status == RunStatus.QUEUED:
        # No worker has started the run yet: there is nothing more to know than this.
        memo = await description.memo()
        created = description.start_time or datetime.now().astimezone()
        return RunState(
            run_id=description.id,
            status=status,
            goal=str(memo.get("goal", "")),
            tenant=tenant,
            user_id=description.typed_search_attributes.get(sa.USER) or "anonymous",
            created_at=created,
            updated_at=created,
        )
    raise TransientError(
        f"run {description.id} is {status.value}, but no worker answered its state query and "
        "no earlier state is known; try again when a worker is running",
        retry_after=settings.retry_after_s,
    )


def approval_error(kind: str | None, message: str) -> AiosError:
    """An approval the run refuses: 404 when it does not know the approval, 409 otherwise (already
    answered, or the arguments changed since the caller looked)."""
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
