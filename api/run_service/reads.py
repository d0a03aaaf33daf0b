"""Reading runs, and cancelling one: listing, state, trace, step outputs and the event stream.

Reads go to Temporal with short deadlines (`read_timeout_s`, `query_timeout_s`): an outage is a
503 with `Retry-After` within seconds, never a hang or a 500 (`api.run_state` says how a run's
state is read whatever its worker is doing). A caller reads a run only through `RunCore.run_for`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError

from aios import search_attributes as sa
from aios.errors import NotFound, TransientError, ValidationFailed
from aios.models import RunState, StepOutput, StepOutputQuery
from aios.stores.traces import TraceStore
from aios.trace import RunTrace, build_trace
from aios.vocabulary import RunStatus
from aios.wire import CancelAccepted, RunFilter, RunList, RunSummary
from api import page_tokens
from api.authz import sees_all_users
from api.deps import Principal
from api.run_approvals import Access
from api.run_events import event_stream
from api.run_service.core import RunCore
from api.run_state import current_state
from api.temporal_reads import (
    QUERY_FAILED,
    UNREACHABLE,
    query_within,
    quoted,
    read_within,
    require_running,
    status_of,
)
from workflows.agent_run import AgentRunWorkflow


class RunReads(RunCore):
    """Reads of runs (and their cancellation), behind the access checks of `run_for`."""

    async def list_runs(
        self,
        principal: Principal,
        which: RunFilter,
        *,
        page_size: int,
        page_token: str | None,
    ) -> RunList:
        clauses = [
            f"WorkflowType = '{AgentRunWorkflow.__name__}'",
            f"{sa.TENANT.name} = {quoted(principal.tenant)}",
        ]
        if which.status is not None:
            clauses.append(f"{sa.STATUS.name} = {quoted(which.status.value)}")
        if which.user_id is not None:
            clauses.append(f"{sa.USER.name} = {quoted(which.user_id)}")
        if which.schedule_id is not None:  # Temporal tags the runs a schedule starts
            clauses.append(f"TemporalScheduledById = {quoted(which.schedule_id)}")
        routing = False
        if not sees_all_users(principal):
            # A user lists their own runs; an approver also those waiting for a decision routed
            # to them (the others are filtered out below).
            own = f"{sa.USER.name} = {quoted(principal.user_id)}"
            routing = await self.approvals.may_be_routed(principal)
            if routing:
                waiting = f"{sa.STATUS.name} = {quoted(RunStatus.AWAITING_APPROVAL.value)}"
                own = f"({own} OR {waiting})"
            clauses.append(own)
        query = " AND ".join(clauses)
        token = page_tokens.unseal(page_token, query) if page_token else None
        iterator = self.temporal.list_workflows(query, page_size=page_size, next_page_token=token)
        try:
            await read_within(self.settings, iterator.fetch_next_page(), "the run list")
        except RPCError as e:  # INVALID_ARGUMENT: a filter Temporal cannot take
            raise ValidationFailed(f"cannot list runs: {e.message}") from None
        page = list(iterator.current_page or [])
        if routing:  # others' waiting runs: only those waiting on the caller (api.authz)
            me = principal.user_id
            others = [e.id for e in page if e.typed_search_attributes.get(sa.USER) != me]
            shown = await self.approvals.routed_ids(principal, others)
            page = [e for e in page if e.id not in others or e.id in shown]
        runs = []
        for execution in page:
            attrs = execution.typed_search_attributes
            memo = await execution.memo()
            runs.append(
                RunSummary(
                    run_id=execution.id,
                    status=status_of(execution.status, attrs.get(sa.STATUS)),
                    goal=str(memo.get("goal", "")),
                    user_id=attrs.get(sa.USER),
                    created_at=execution.start_time,
                    closed_at=execution.close_time,
                )
            )
        next_token = iterator.next_page_token
        return RunList(
            runs=runs, next_page_token=page_tokens.seal(next_token, query) if next_token else None
        )

    async def state(self, principal: Principal, run_id: str, *, wait_s: float = 0) -> RunState:
        """The run's state. With `wait_s`, answered when the run closes or after `wait_s`:
        Temporal's long poll on the close event, so waiting costs the workers nothing."""
        handle, description = await self.run_for(principal, run_id, Access.READ)
        if wait_s > 0 and description.status == WorkflowExecutionStatus.RUNNING:
            result: Any = None
            with contextlib.suppress(TimeoutError, WorkflowFailureError, *UNREACHABLE):
                result = await asyncio.wait_for(
                    handle.result(rpc_timeout=timedelta(seconds=wait_s)), wait_s
                )
            # Completed: the close event's result is the answer `current_state` would read from
            # it again (after a describe): two round trips to Temporal fewer on a waiter's path.
            with contextlib.suppress(ValueError):
                if isinstance(result, RunState):
                    return result
                if result is not None:
                    return RunState.model_validate(result)
            description = await read_within(self.settings, handle.describe(), f"run {run_id}")
        return await current_state(
            self.temporal, handle, description, self.settings, self.snapshots
        )

    async def trace(self, principal: Principal, run_id: str) -> RunTrace:
        handle, description = await self.run_for(principal, run_id, Access.READ)
        if description.status != WorkflowExecutionStatus.RUNNING:
            kept = await TraceStore(self.pool).get(run_id, principal.tenant)
            if kept is not None:
                return kept
        state = await current_state(
            self.temporal, handle, description, self.settings, self.snapshots
        )
        try:
            events = await self.whole_log(handle)
        except QUERY_FAILED as e:
            raise TransientError(
                f"the run's log cannot be read right now ({e})",
                retry_after=self.settings.retry_after_s,
            ) from e
        return build_trace(state, events)

    async def step_output(self, principal: Principal, run_id: str, step_id: str) -> StepOutput:
        handle, _ = await self.run_for(principal, run_id, Access.READ)
        try:
            output: StepOutput = await query_within(
                self.settings,
                handle.query(
                    AgentRunWorkflow.step_output,
                    StepOutputQuery(step_id=step_id),
                    rpc_timeout=timedelta(seconds=self.settings.query_timeout_s),
                ),
            )
        except QUERY_FAILED as e:
            raise TransientError(
                f"the run's outputs cannot be read right now: {e}",
                retry_after=self.settings.retry_after_s,
            ) from e
        if output.status is None:
            raise NotFound(f"run {run_id} has no step {step_id!r}")
        return output

    async def events(self, principal: Principal, run_id: str, after: int) -> AsyncIterator[str]:
        """The run's server-sent events after `after` (the owner is checked before the stream
        opens)."""
        handle, _ = await self.run_for(principal, run_id, Access.READ)
        return event_stream(handle, self.settings, after, self.deltas)

    # --- acting (answers to approvals: `RunCore.approvals`, api/run_approvals.py) ---------

    async def cancel(self, principal: Principal, run_id: str) -> CancelAccepted:
        handle, description = await self.run_for(principal, run_id, Access.ACT)
        require_running(description, "it cannot be cancelled")
        # A Temporal cancellation request, as the Web UI's Cancel button sends: the run stops
        # its steps (activities learn of it through their heartbeats) and ends as cancelled.
        await read_within(self.settings, handle.cancel(), "the cancellation")
        return CancelAccepted(run_id=run_id, status="cancelling")
