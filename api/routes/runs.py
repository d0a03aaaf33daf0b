"""Runs: start, list, inspect, approve, cancel, and follow agent runs."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import (
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from ulid import ULID

from aios import search_attributes as sa
from aios.errors import Conflict, NotFound, TransientError, ValidationFailed
from aios.models import (
    AgentRunInput,
    ApprovalAck,
    ApprovalDecision,
    EventsQuery,
    RunEvent,
    RunState,
    StepOutput,
    StepOutputQuery,
)
from aios.plan import Plan, PlanError, check_planner, validate_plan
from aios.temporal import AGENT_RUN_ID_PREFIX
from aios.vocabulary import TERMINAL_STATUSES, FailureType, PlannerName, RunEventType, RunStatus
from api.deps import PrincipalDep, SettingsDep, TemporalDep
from workflows.agent_run import AgentRunWorkflow

router = APIRouter(prefix="/v1/runs", tags=["runs"])

QUERY_TIMEOUT = timedelta(seconds=10)
EVENT_POLL_S = 0.5
KEEPALIVE_S = 15.0


class CreateRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    goal: str = Field(min_length=1)
    skill: str | None = Field(default=None, max_length=100)
    inputs: dict[str, Any] = Field(default_factory=dict)
    planner: PlannerName = PlannerName.RULE
    user_id: str | None = Field(default=None, max_length=200)
    session_id: str | None = Field(default=None, max_length=200)
    budget_usd: float | None = Field(default=None, ge=0)
    max_steps: int | None = Field(default=None, ge=1, le=200)
    plan: Plan | None = Field(default=None, description="run this plan instead of planning")


class RunLinks(BaseModel):
    self: str
    events: str
    temporal_ui: str


class RunCreated(BaseModel):
    run_id: str
    status: RunStatus
    links: RunLinks


class RunSummary(BaseModel):
    run_id: str
    status: RunStatus
    goal: str
    user_id: str | None
    created_at: datetime | None
    closed_at: datetime | None


class RunList(BaseModel):
    runs: list[RunSummary]
    next_page_token: str | None


class ApprovalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    args_hash: str = Field(min_length=1)
    comment: str | None = Field(default=None, max_length=2000)


class CancelAccepted(BaseModel):
    run_id: str
    status: str


def _links(request: Request, settings: SettingsDep, run_id: str) -> RunLinks:
    base = str(request.base_url).rstrip("/")
    ui = f"{settings.temporal_web_url}/namespaces/{settings.temporal_namespace}/workflows/{run_id}"
    return RunLinks(
        self=f"{base}/v1/runs/{run_id}", events=f"{base}/v1/runs/{run_id}/events", temporal_ui=ui
    )


def _run_id_for(tenant: str, idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return f"{AGENT_RUN_ID_PREFIX}{str(ULID()).lower()}"
    digest = hashlib.sha256(f"{tenant}\0{idempotency_key}".encode()).hexdigest()[:26]
    return f"{AGENT_RUN_ID_PREFIX}{digest}"


@router.post("", status_code=202, response_model=RunCreated)
async def create_run(
    body: CreateRun,
    request: Request,
    response: Response,
    principal: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> RunCreated:
    if len(body.goal) > settings.max_goal_chars:
        raise ValidationFailed(
            f"the goal is {len(body.goal)} characters long; the limit is "
            f"{settings.max_goal_chars}. Put long material in a document and ingest it."
        )
    try:
        if body.plan is None:
            check_planner(body.planner)
        else:
            validate_plan(body.plan)
    except PlanError as e:
        raise ValidationFailed(f"invalid plan: {e}" if body.plan else str(e)) from None
    run_id = _run_id_for(principal.tenant, idempotency_key)
    user_id = body.user_id or principal.user_id
    run_input = AgentRunInput(
        goal=body.goal,
        tenant=principal.tenant,
        user_id=user_id,
        session_id=body.session_id,
        skill=body.skill,
        inputs=body.inputs,
        planner=body.planner,
        plan=body.plan,
        budget_usd=body.budget_usd,
        max_steps=body.max_steps,
    )
    try:
        await temporal.start_workflow(
            AgentRunWorkflow.run,
            run_input,
            id=run_id,
            task_queue=settings.task_queue,
            # Same Idempotency-Key, same run: a retried POST never starts a second run.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.TENANT, principal.tenant),
                    SearchAttributePair(sa.USER, user_id),
                    SearchAttributePair(sa.STATUS, RunStatus.QUEUED.value),
                ]
            ),
            memo={"goal": body.goal[:2000]},
            static_summary=body.goal[:400],
        )
    except RPCError as e:
        raise TransientError(f"Temporal did not accept the run: {e.message}") from e
    links = _links(request, settings, run_id)
    response.headers["Location"] = links.self
    return RunCreated(run_id=run_id, status=RunStatus.QUEUED, links=links)


@router.get("", response_model=RunList)
async def list_runs(
    principal: PrincipalDep,
    temporal: TemporalDep,
    status: RunStatus | None = None,
    user_id: Annotated[str | None, Query(max_length=200)] = None,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    page_token: str | None = None,
) -> RunList:
    clauses = [
        f"WorkflowType = '{AgentRunWorkflow.__name__}'",
        f"{sa.TENANT.name} = {_quote(principal.tenant)}",
    ]
    if status is not None:
        clauses.append(f"{sa.STATUS.name} = {_quote(status)}")
    if user_id is not None:
        clauses.append(f"{sa.USER.name} = {_quote(user_id)}")
    token: bytes | None = None
    if page_token:
        try:
            token = base64.b64decode(page_token.encode(), altchars=b"-_", validate=True)
            if not token:
                raise ValueError("empty")
        except (binascii.Error, ValueError):
            raise ValidationFailed("page_token is not a token this API returned") from None
    iterator = temporal.list_workflows(
        " AND ".join(clauses), page_size=page_size, next_page_token=token
    )
    try:
        await iterator.fetch_next_page()
    except RPCError as e:
        if e.status == RPCStatusCode.INVALID_ARGUMENT:
            raise ValidationFailed(f"cannot list runs: {e.message}") from None
        raise TransientError(f"Temporal did not answer: {e.message}") from e
    runs = []
    for execution in iterator.current_page or []:
        attrs = execution.typed_search_attributes
        memo = await execution.memo()
        runs.append(
            RunSummary(
                run_id=execution.id,
                status=_status_of(execution.status, attrs.get(sa.STATUS)),
                goal=str(memo.get("goal", "")),
                user_id=attrs.get(sa.USER),
                created_at=execution.start_time,
                closed_at=execution.close_time,
            )
        )
    next_token = iterator.next_page_token
    return RunList(
        runs=runs,
        next_page_token=base64.urlsafe_b64encode(next_token).decode() if next_token else None,
    )


@router.get("/{run_id}", response_model=RunState)
async def get_run(run_id: str, principal: PrincipalDep, temporal: TemporalDep) -> RunState:
    handle, description = await _owned_run(temporal, run_id, principal.tenant)
    return await _state(handle, description)


@router.post("/{run_id}/approvals/{approval_id}", response_model=ApprovalAck)
async def answer_approval(
    run_id: str,
    approval_id: str,
    body: ApprovalBody,
    principal: PrincipalDep,
    temporal: TemporalDep,
) -> ApprovalAck:
    handle, description = await _owned_run(temporal, run_id, principal.tenant)
    _require_running(description, "there is nothing to approve")
    decision = ApprovalDecision(
        approval_id=approval_id,
        decision=body.decision,
        args_hash=body.args_hash,
        comment=body.comment,
        reviewer=principal.user_id,
    )
    try:
        ack: ApprovalAck = await handle.execute_update(
            AgentRunWorkflow.approve, decision, rpc_timeout=QUERY_TIMEOUT
        )
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        if isinstance(cause, ApplicationError):
            if cause.type == FailureType.UNKNOWN_APPROVAL:
                raise NotFound(cause.message) from None
            raise Conflict(cause.message) from None
        raise
    except RPCError as e:
        # The run may have ended between our look and the update (it completed, or timed out).
        _require_running(await handle.describe(), "there is nothing to approve")
        raise TransientError(f"the run did not take the answer: {e.message}") from e
    return ack


@router.get("/{run_id}/steps/{step_id}/output", response_model=StepOutput)
async def step_output(
    run_id: str, step_id: str, principal: PrincipalDep, temporal: TemporalDep
) -> StepOutput:
    """A step's full output (a run's state shows each step's status; this shows what it made)."""
    handle, _ = await _owned_run(temporal, run_id, principal.tenant)
    try:
        output: StepOutput = await handle.query(
            AgentRunWorkflow.step_output,
            StepOutputQuery(step_id=step_id),
            rpc_timeout=QUERY_TIMEOUT,
        )
    except (WorkflowQueryFailedError, RPCError) as e:
        raise TransientError(f"the run's state cannot be read right now: {e}") from e
    if output.status is None:
        raise NotFound(f"run {run_id} has no step {step_id!r}")
    return output


@router.post("/{run_id}/cancel", status_code=202, response_model=CancelAccepted)
async def cancel_run(run_id: str, principal: PrincipalDep, temporal: TemporalDep) -> CancelAccepted:
    handle, description = await _owned_run(temporal, run_id, principal.tenant)
    _require_running(description, "it cannot be cancelled")
    # A Temporal cancellation request, as the Web UI's Cancel button sends: the run stops its
    # steps (activities learn of it through their heartbeats) and ends as cancelled.
    await handle.cancel()
    return CancelAccepted(run_id=run_id, status="cancelling")


@router.get("/{run_id}/events")
async def run_events(
    run_id: str,
    principal: PrincipalDep,
    temporal: TemporalDep,
    after: Annotated[int, Query(ge=0)] = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-sent events: step started/finished/failed/skipped, approvals, usage, and
    `run.finished` last. Reconnect with `Last-Event-ID` (or `?after=`) to resume."""
    handle, _ = await _owned_run(temporal, run_id, principal.tenant)
    if last_event_id and last_event_id.isdigit():
        after = max(after, int(last_event_id))

    async def stream() -> AsyncIterator[str]:
        seen = after
        idle = 0.0
        yield ": connected\n\n"
        while True:
            try:
                events: list[RunEvent] = await handle.query(
                    AgentRunWorkflow.events,
                    EventsQuery(after_seq=seen),
                    rpc_timeout=QUERY_TIMEOUT,
                )
            except (WorkflowQueryFailedError, RPCError):
                events = []
            for event in events:
                seen = event.seq
                yield (f"id: {event.seq}\nevent: {event.type}\ndata: {event.model_dump_json()}\n\n")
                if event.type == RunEventType.RUN_FINISHED:
                    return
            if not events:
                description = await handle.describe()
                if description.status != WorkflowExecutionStatus.RUNNING:
                    status = _status_of(description.status, None)
                    done = json.dumps({"status": status})
                    yield f"event: {RunEventType.RUN_FINISHED.value}\ndata: {done}\n\n"
                    return
            idle = 0.0 if events else idle + EVENT_POLL_S
            if idle >= KEEPALIVE_S:
                idle = 0.0
                yield ": keep-alive\n\n"
            await asyncio.sleep(EVENT_POLL_S)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# --- helpers ------------------------------------------------------------------------------


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def _owned_run(
    temporal: TemporalDep, run_id: str, tenant: str
) -> tuple[WorkflowHandle[Any, Any], WorkflowExecutionDescription]:
    """The run's handle, or 404 when it does not exist or belongs to another tenant (the same
    answer, so run ids of other tenants cannot be probed)."""
    if not run_id.startswith(AGENT_RUN_ID_PREFIX) or len(run_id) > 100:
        raise NotFound(f"no run {run_id!r}")
    handle = temporal.get_workflow_handle(run_id)
    try:
        description = await handle.describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"no run {run_id!r}") from None
        raise TransientError(f"Temporal did not answer: {e.message}") from e
    if description.typed_search_attributes.get(sa.TENANT) != tenant:
        raise NotFound(f"no run {run_id!r}")
    return handle, description


def _require_running(description: WorkflowExecutionDescription, consequence: str) -> None:
    if description.status != WorkflowExecutionStatus.RUNNING:
        raise Conflict(f"run {description.id} has already ended; {consequence}")


_CLOSED_STATUS: dict[WorkflowExecutionStatus, RunStatus] = {
    WorkflowExecutionStatus.COMPLETED: RunStatus.COMPLETED,
    WorkflowExecutionStatus.FAILED: RunStatus.FAILED,
    WorkflowExecutionStatus.CANCELED: RunStatus.CANCELLED,
    WorkflowExecutionStatus.TERMINATED: RunStatus.FAILED,
    WorkflowExecutionStatus.TIMED_OUT: RunStatus.TIMED_OUT,
}


def _status_of(temporal_status: WorkflowExecutionStatus | None, recorded: str | None) -> RunStatus:
    """The run's own status, unless Temporal ended it from outside (terminate, timeout)."""
    closed = _CLOSED_STATUS.get(temporal_status) if temporal_status else None
    known = RunStatus(recorded) if recorded in set(RunStatus) else None
    if known in TERMINAL_STATUSES:
        return known
    return closed or known or RunStatus.QUEUED


async def _state(
    handle: WorkflowHandle[Any, Any], description: WorkflowExecutionDescription
) -> RunState:
    try:
        state: RunState = await handle.query(AgentRunWorkflow.state, rpc_timeout=QUERY_TIMEOUT)
        if state.status not in TERMINAL_STATUSES:
            closed = _CLOSED_STATUS.get(description.status) if description.status else None
            if closed is not None:  # ended from outside, e.g. terminated in the Temporal UI
                state.status = closed
                state.error = state.error or "the workflow was ended outside AIOS"
        return state
    except (WorkflowQueryFailedError, RPCError):
        # Not started by a worker yet (or no worker is up): answer from what Temporal knows.
        memo = await description.memo()
        created = description.start_time or datetime.now().astimezone()
        return RunState(
            run_id=description.id,
            status=_status_of(
                description.status, description.typed_search_attributes.get(sa.STATUS)
            ),
            goal=str(memo.get("goal", "")),
            tenant=description.typed_search_attributes.get(sa.TENANT) or "default",
            user_id=description.typed_search_attributes.get(sa.USER) or "anonymous",
            created_at=created,
            updated_at=description.close_time or created,
        )
