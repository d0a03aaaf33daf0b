"""Runs: start, list, inspect, approve, cancel, and follow agent runs.

Reads go to Temporal with short deadlines (`read_timeout_s`, `query_timeout_s`): an outage is a 503
with `Retry-After` within seconds, never a hang or a 500. When no worker can answer a run's state
query, the last state the API saw is served with `"stale": true` and the reason.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import (
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from ulid import ULID

from activities.planning import check_run_request
from aios import search_attributes as sa
from aios.config import Settings
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
from aios.plan import Plan
from aios.stores import RunSnapshotStore
from aios.stores.deltas import Delta, DeltaHub
from aios.temporal import AGENT_RUN_ID_PREFIX
from aios.vocabulary import TERMINAL_STATUSES, FailureType, PlannerName, RunEventType, RunStatus
from api.deps import DbDep, DeltasDep, PrincipalDep, RegistryDep, SettingsDep, TemporalDep
from workflows.agent_run import AgentRunWorkflow

router = APIRouter(prefix="/v1/runs", tags=["runs"])

EVENT_POLL_S = 0.5
# What an unreachable Temporal looks like to the client: an RPC error, or (when the connection
# itself cannot be made) the bridge's RuntimeError "Failed client connect".
UNREACHABLE = (RPCError, RuntimeError)
# A query that could not be answered: no worker, a failing handler, or no Temporal.
QUERY_FAILED = (WorkflowQueryFailedError, TimeoutError, *UNREACHABLE)
T = TypeVar("T")
# Printable text without control characters: ids and filter values end up in visibility queries.
_SAFE_VALUE = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
_PAGE_TOKEN_VERSION = b"\x01"


class CreateRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    goal: str = Field(min_length=1, description="what the run should achieve")
    skill: str | None = Field(default=None, max_length=100)
    inputs: dict[str, Any] = Field(default_factory=dict)
    planner: PlannerName = PlannerName.HYBRID
    user_id: str | None = Field(default=None, max_length=200, pattern=_SAFE_VALUE.pattern)
    session_id: str | None = Field(default=None, max_length=200, pattern=_SAFE_VALUE.pattern)
    budget_usd: float | None = Field(
        default=None, ge=0, description="stop before a model call that could cost more"
    )
    max_tokens: int | None = Field(
        default=None, ge=1, description="total tokens the run may use (input and output)"
    )
    max_steps: int | None = Field(default=None, ge=1, le=200)
    max_replans: int = Field(
        default=1, ge=0, le=5, description="revised plans after a failed step (LLM plans only)"
    )
    plan: Plan | None = Field(default=None, description="run this plan instead of planning")

    def fingerprint(self) -> str:
        """The same request gives the same fingerprint (an Idempotency-Key must not be reused
        for a different request)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


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
    args_hash: str = Field(min_length=1, max_length=128)
    comment: str | None = Field(default=None, max_length=2000)


class CancelAccepted(BaseModel):
    run_id: str
    status: str


def _links(request: Request, settings: Settings, run_id: str) -> RunLinks:
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


async def _query(settings: Settings, call: Awaitable[T]) -> T:
    """A query with a hard deadline: the client retries an unreachable server internally past
    its `rpc_timeout`, and a stream or a poll must not hang on it."""
    return await asyncio.wait_for(call, settings.query_timeout_s + 1)


async def _read(settings: Settings, call: Awaitable[T], what: str) -> T:
    """A Temporal read with a deadline: an unreachable or overloaded server is a 503 (with
    Retry-After) in seconds. NOT_FOUND and INVALID_ARGUMENT pass through for the caller."""
    try:
        return await asyncio.wait_for(call, settings.read_timeout_s)
    except TimeoutError:
        raise TransientError(
            f"Temporal did not answer {what} within {settings.read_timeout_s:g}s",
            retry_after=settings.retry_after_s,
        ) from None
    except UNREACHABLE as e:
        if isinstance(e, RPCError) and e.status in (
            RPCStatusCode.NOT_FOUND,
            RPCStatusCode.INVALID_ARGUMENT,
        ):
            raise
        raise TransientError(
            f"Temporal did not answer {what}: {getattr(e, 'message', e)}",
            retry_after=settings.retry_after_s,
        ) from e


@router.post("", status_code=202, response_model=RunCreated)
async def create_run(
    body: CreateRun,
    request: Request,
    response: Response,
    principal: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    registry: RegistryDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> RunCreated:
    if not body.goal.strip():
        raise ValidationFailed("the goal is empty; say what the run should achieve")
    if len(body.goal) > settings.max_goal_chars:
        raise ValidationFailed(
            f"the goal is {len(body.goal)} characters long; the limit is "
            f"{settings.max_goal_chars}. Put long material in a document and ingest it."
        )
    # The checks the planner will make, made now: a bad request never becomes a failed run.
    check_run_request(
        registry,
        goal=body.goal,
        planner=body.planner,
        skill=body.skill,
        inputs=body.inputs,
        plan=body.plan,
    )
    run_id = _run_id_for(principal.tenant, idempotency_key)
    user_id = body.user_id or principal.user_id
    fingerprint = body.fingerprint()
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
        max_tokens=body.max_tokens,
        max_steps=body.max_steps,
        max_replans=body.max_replans,
    )
    links = _links(request, settings, run_id)
    response.headers["Location"] = links.self
    try:
        await temporal.start_workflow(
            AgentRunWorkflow.run,
            run_input,
            id=run_id,
            task_queue=settings.task_queue,
            # With an Idempotency-Key the id is fixed: a retried POST finds the run it started,
            # running or finished, and never starts a second one.
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.TENANT, principal.tenant),
                    SearchAttributePair(sa.USER, user_id),
                    SearchAttributePair(sa.STATUS, RunStatus.QUEUED.value),
                ]
            ),
            memo={"goal": body.goal[:2000], "request_sha256": fingerprint},
            static_summary=body.goal[:400],
            rpc_timeout=timedelta(seconds=settings.read_timeout_s * 3),
        )
    except WorkflowAlreadyStartedError:
        if idempotency_key is None:  # a ULID collision: cannot happen
            raise
        return await _existing_run(temporal, settings, run_id, fingerprint, links)
    except UNREACHABLE as e:
        raise TransientError(
            f"Temporal did not accept the run: {getattr(e, 'message', e)}",
            retry_after=settings.retry_after_s,
        ) from e
    return RunCreated(run_id=run_id, status=RunStatus.QUEUED, links=links)


async def _existing_run(
    temporal: TemporalDep, settings: Settings, run_id: str, fingerprint: str, links: RunLinks
) -> RunCreated:
    """The run an Idempotency-Key already started, if it was started by the same request."""
    description = await _read(settings, temporal.get_workflow_handle(run_id).describe(), run_id)
    memo = await description.memo()
    if memo.get("request_sha256", fingerprint) != fingerprint:
        raise Conflict(
            "this Idempotency-Key was already used for a different request (run "
            f"{run_id}); use a new key for a new request"
        )
    status = _status_of(description.status, description.typed_search_attributes.get(sa.STATUS))
    return RunCreated(run_id=run_id, status=status, links=links)


@router.get("", response_model=RunList)
async def list_runs(
    principal: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    status: RunStatus | None = None,
    user_id: Annotated[str | None, Query(max_length=200, pattern=_SAFE_VALUE.pattern)] = None,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    page_token: Annotated[str | None, Query(max_length=4096)] = None,
) -> RunList:
    clauses = [
        f"WorkflowType = '{AgentRunWorkflow.__name__}'",
        f"{sa.TENANT.name} = {_quote(principal.tenant)}",
    ]
    if status is not None:
        clauses.append(f"{sa.STATUS.name} = {_quote(status.value)}")
    if user_id is not None:
        clauses.append(f"{sa.USER.name} = {_quote(user_id)}")
    query = " AND ".join(clauses)
    token = _open_page_token(page_token, query) if page_token else None
    iterator = temporal.list_workflows(query, page_size=page_size, next_page_token=token)
    try:
        await _read(settings, iterator.fetch_next_page(), "the run list")
    except RPCError as e:  # INVALID_ARGUMENT: a filter Temporal cannot take
        raise ValidationFailed(f"cannot list runs: {e.message}") from None
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
        runs=runs, next_page_token=_seal_page_token(next_token, query) if next_token else None
    )


def _seal_page_token(raw: bytes, query: str) -> str:
    """Temporal's token, bound to the query it continues, so a forged, damaged or foreign token is
    a clear 400 instead of a slow failure inside Temporal."""
    check = hashlib.sha256(query.encode() + b"\0" + raw).digest()[:8]
    return base64.urlsafe_b64encode(_PAGE_TOKEN_VERSION + check + raw).decode().rstrip("=")


def _open_page_token(token: str, query: str) -> bytes:
    refused = ValidationFailed(
        "page_token is not a token this API returned for this listing; start without it"
    )
    try:
        sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise refused from None
    version, check, raw = sealed[:1], sealed[1:9], sealed[9:]
    if version != _PAGE_TOKEN_VERSION or not raw:
        raise refused
    if hashlib.sha256(query.encode() + b"\0" + raw).digest()[:8] != check:
        raise refused
    return raw


@router.get("/{run_id}", response_model=RunState)
async def get_run(
    run_id: str,
    principal: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    pool: DbDep,
) -> RunState:
    handle, description = await _owned_run(temporal, settings, run_id, principal.tenant)
    return await _state(handle, description, settings, RunSnapshotStore(pool))


@router.post(
    "/{run_id}/approvals/{approval_id}",
    response_model=ApprovalAck,
    responses={202: {"model": ApprovalAck, "description": "accepted; applied when a worker runs"}},
)
async def answer_approval(
    run_id: str,
    approval_id: str,
    body: ApprovalBody,
    response: Response,
    principal: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    pool: DbDep,
) -> ApprovalAck:
    """200 when the run took the answer; 202 when no worker could take it in time — the answer is
    then recorded durably (as the `approve` signal) and applied as soon as a worker picks the run
    up, after the same checks."""
    handle, description = await _owned_run(temporal, settings, run_id, principal.tenant)
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
            AgentRunWorkflow.approve,
            decision,
            rpc_timeout=timedelta(seconds=settings.query_timeout_s),
        )
        return ack
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        if isinstance(cause, ApplicationError):
            if cause.type == FailureType.UNKNOWN_APPROVAL:
                raise NotFound(cause.message) from None
            raise Conflict(cause.message) from None
        raise
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        pass  # no worker answered in time: record the answer durably instead (below)
    except RPCError as e:
        # The run may have ended between our look and the update (it completed, or timed out).
        again = await _read(settings, handle.describe(), run_id)
        _require_running(again, "there is nothing to approve")
        raise TransientError(
            f"the run did not take the answer: {e.message}", retry_after=settings.retry_after_s
        ) from e
    step_id = await _check_against_last_known(
        RunSnapshotStore(pool), run_id, decision, principal.tenant
    )
    try:
        await asyncio.wait_for(
            handle.signal(AgentRunWorkflow.approve_signal, decision), settings.read_timeout_s
        )
    except (TimeoutError, *UNREACHABLE) as e:
        raise TransientError(
            "the answer could not be recorded; send it again", retry_after=settings.retry_after_s
        ) from e
    response.status_code = 202
    return ApprovalAck(
        approval_id=approval_id,
        decision=body.decision,
        step_id=step_id,
        status="accepted",
        detail=(
            "no worker is running this run right now; the answer is recorded and will be "
            "applied, after the same checks, when a worker picks the run up"
        ),
    )


async def _check_against_last_known(
    snapshots: RunSnapshotStore, run_id: str, decision: ApprovalDecision, tenant: str
) -> str:
    """Refuse an answer the last known state shows to be wrong (unknown approval, stale hash);
    returns the step it answers ('' when the API has not seen the run's state yet)."""
    known = await snapshots.get(run_id, tenant)
    if known is None:
        return ""
    state, _ = known
    pending = next(
        (p for p in state.pending_approvals if p.approval_id == decision.approval_id), None
    )
    if pending is None:
        waiting = ", ".join(p.approval_id for p in state.pending_approvals) or "none"
        raise NotFound(f"no pending approval {decision.approval_id!r} (pending: {waiting})")
    if pending.args_hash != decision.args_hash:
        raise Conflict(
            f"args_hash does not match the arguments awaiting approval for "
            f"{decision.approval_id!r}; fetch the run state and approve what it shows"
        )
    return pending.step_id


@router.get("/{run_id}/steps/{step_id}/output", response_model=StepOutput)
async def step_output(
    run_id: str, step_id: str, principal: PrincipalDep, temporal: TemporalDep, settings: SettingsDep
) -> StepOutput:
    """A step's full output (a run's state shows each step's status; this shows what it made)."""
    handle, _ = await _owned_run(temporal, settings, run_id, principal.tenant)
    try:
        output: StepOutput = await _query(
            settings,
            handle.query(
                AgentRunWorkflow.step_output,
                StepOutputQuery(step_id=step_id),
                rpc_timeout=timedelta(seconds=settings.query_timeout_s),
            ),
        )
    except QUERY_FAILED as e:
        raise TransientError(
            f"the run's outputs cannot be read right now: {e}", retry_after=settings.retry_after_s
        ) from e
    if output.status is None:
        raise NotFound(f"run {run_id} has no step {step_id!r}")
    return output


@router.post("/{run_id}/cancel", status_code=202, response_model=CancelAccepted)
async def cancel_run(
    run_id: str, principal: PrincipalDep, temporal: TemporalDep, settings: SettingsDep
) -> CancelAccepted:
    handle, description = await _owned_run(temporal, settings, run_id, principal.tenant)
    _require_running(description, "it cannot be cancelled")
    # A Temporal cancellation request, as the Web UI's Cancel button sends: the run stops its
    # steps (activities learn of it through their heartbeats) and ends as cancelled.
    await _read(settings, handle.cancel(), "the cancellation")
    return CancelAccepted(run_id=run_id, status="cancelling")


@router.get("/{run_id}/events")
async def run_events(
    run_id: str,
    principal: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    deltas: DeltasDep,
    after: Annotated[int, Query(ge=0)] = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-sent events: step started/finished/failed/skipped, approvals, usage, and
    `run.finished` last. Reconnect with `Last-Event-ID` (or `?after=`) to resume. While a model
    writes, `llm.delta` events carry its text as it comes (they have no id: a reconnecting client
    gets the step events it missed, and the step's output holds the whole text).

    While Temporal is unreachable the stream stays open: it sends one `error` event (with
    `retry_after_s`) and keep-alive comments, and carries on where it was once Temporal answers."""
    handle, _ = await _owned_run(temporal, settings, run_id, principal.tenant)
    if last_event_id and last_event_id.isdigit():
        after = max(after, int(last_event_id))
    return StreamingResponse(
        _event_stream(handle, settings, after, deltas),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _event_stream(
    handle: WorkflowHandle[Any, Any], settings: Settings, after: int, deltas: DeltaHub
) -> AsyncIterator[str]:
    async with deltas.subscribe(handle.id) as queue:
        async for chunk in _run_stream(handle, settings, after, queue):
            yield chunk


async def _run_stream(
    handle: WorkflowHandle[Any, Any],
    settings: Settings,
    after: int,
    deltas: asyncio.Queue[Delta],
) -> AsyncIterator[str]:
    seen = after
    last_write = time.monotonic()
    outage: str | None = None  # why events cannot be read right now, once reported

    def sse(kind: str, data: Any, event_id: int | None = None) -> str:
        nonlocal last_write
        last_write = time.monotonic()
        head = f"id: {event_id}\n" if event_id is not None else ""
        return f"{head}event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"

    yield ": connected\n\n"
    while True:
        events: list[RunEvent] | None
        try:
            events = await _query(
                settings,
                handle.query(
                    AgentRunWorkflow.events,
                    EventsQuery(after_seq=seen),
                    rpc_timeout=timedelta(seconds=settings.query_timeout_s),
                ),
            )
        except QUERY_FAILED:
            events = None
        for event in events or []:
            seen = event.seq
            yield sse(event.type, event.model_dump(mode="json"), event.seq)
            if event.type == RunEventType.RUN_FINISHED:
                return
        if not events:
            try:
                description = await asyncio.wait_for(handle.describe(), settings.read_timeout_s)
            except (TimeoutError, *UNREACHABLE) as e:
                reason = f"Temporal is unreachable ({getattr(e, 'message', None) or 'timeout'})"
                if outage is None:
                    outage = reason
                    yield sse(
                        "error",
                        {"reason": reason, "retry_after_s": settings.retry_after_s},
                    )
            else:
                outage = None
                if description.status != WorkflowExecutionStatus.RUNNING:
                    status = _status_of(description.status, None)
                    yield sse(RunEventType.RUN_FINISHED, {"status": status})
                    return
        if time.monotonic() - last_write >= settings.sse_keepalive_s:
            last_write = time.monotonic()
            yield ": keep-alive\n\n"
        # Until the next poll, relay what the model is writing as it comes.
        next_poll = time.monotonic() + EVENT_POLL_S
        while (wait := next_poll - time.monotonic()) > 0:
            try:
                delta = await asyncio.wait_for(deltas.get(), wait)
            except TimeoutError:
                break
            yield sse(
                RunEventType.LLM_DELTA,
                {"step_id": delta.step_id, "attempt": delta.attempt, "text": delta.text},
            )


# --- helpers ------------------------------------------------------------------------------


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def _owned_run(
    temporal: TemporalDep, settings: Settings, run_id: str, tenant: str
) -> tuple[WorkflowHandle[Any, Any], WorkflowExecutionDescription]:
    """The run's handle, or 404 when it does not exist or belongs to another tenant (the same
    answer, so run ids of other tenants cannot be probed)."""
    if not run_id.startswith(AGENT_RUN_ID_PREFIX) or not _SAFE_VALUE.match(run_id):
        raise NotFound(f"no run {run_id!r}")
    handle = temporal.get_workflow_handle(run_id)
    try:
        description = await _read(settings, handle.describe(), f"about run {run_id}")
    except RPCError as e:  # NOT_FOUND or INVALID_ARGUMENT: no such run either way
        raise NotFound(f"no run {run_id!r}") from e
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
        state: RunState = await _query(
            settings,
            handle.query(
                AgentRunWorkflow.state, rpc_timeout=timedelta(seconds=settings.query_timeout_s)
            ),
        )
    except QUERY_FAILED as e:
        return await _last_known_state(description, recorded, snapshots, settings, e)
    if state.status not in TERMINAL_STATUSES:
        closed = _CLOSED_STATUS.get(description.status) if description.status else None
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
    status = _status_of(description.status, recorded)
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
