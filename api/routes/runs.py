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
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError
from ulid import ULID

from activities.planning import check_run_request
from aios import search_attributes as sa
from aios import telemetry
from aios.config import BUNDLED_MODEL, DEFAULT_MAX_GOAL_CHARS, Settings
from aios.errors import (
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    TransientError,
    ValidationFailed,
)
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
from aios.stores.traces import TraceStore
from aios.temporal import AGENT_RUN_ID_PREFIX
from aios.trace import RunTrace, build_trace
from aios.vocabulary import PlannerName, RunEventType, RunStatus
from api.deps import (
    DbDep,
    DeltasDep,
    Principal,
    PrincipalDep,
    RegistryDep,
    SettingsDep,
    SkillsDep,
    TemporalDep,
)
from api.examples import example, sse_example
from api.goals import checked_goal
from api.run_events import EventStreamResponse, event_stream
from api.run_state import approval_error, check_against_last_known, current_state
from api.temporal_reads import (
    QUERY_FAILED,
    SAFE_VALUE,
    UNREACHABLE,
    owned_run,
    query_within,
    quoted,
    read_within,
    require_running,
    status_of,
    unavailable,
)
from workflows.agent_run import CURRENT_PATCHES, AgentRunWorkflow

# The longest `GET /v1/runs/{id}?wait_s=` holds a request (under common proxies' idle timeouts).
MAX_WAIT_S = 60.0
router = APIRouter(prefix="/v1/runs", tags=["runs"])

_PAGE_TOKEN_VERSION = b"\x01"


class CreateRun(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"goal": "Write a short report on how our pumps are maintained"},
                {
                    "goal": "Publish the weekly summary",
                    "plan": {
                        "steps": [
                            {
                                "id": "draft",
                                "kind": "tool",
                                "tool": "echo",
                                "args": {"value": "the draft"},
                            },
                        ]
                    },
                    "budget_usd": 0.5,
                },
            ]
        },
    )

    goal: str = Field(
        min_length=1,
        description="what the run should achieve; at most AIOS_MAX_GOAL_CHARS characters "
        "(8000 by default: put long material in a document)",
        # Documented here; checked in the route against the deployment's setting, with advice.
        json_schema_extra={"maxLength": DEFAULT_MAX_GOAL_CHARS},
    )
    skill: str | None = Field(default=None, max_length=100)
    inputs: dict[str, Any] = Field(default_factory=dict)
    planner: PlannerName = PlannerName.HYBRID
    user_id: str | None = Field(default=None, max_length=200, pattern=SAFE_VALUE.pattern)
    session_id: str | None = Field(default=None, max_length=200, pattern=SAFE_VALUE.pattern)
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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "run_id": "run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                    "status": "queued",
                    "links": {
                        "self": "http://127.0.0.1:8000/v1/runs/run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                        "events": "http://127.0.0.1:8000/v1/runs/run-01jd2x7k9q3m5n8p4r6s0t2v4w/events",
                        "temporal_ui": "http://127.0.0.1:8233/namespaces/default/workflows/run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                    },
                }
            ]
        }
    )

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "runs": [
                        {
                            "run_id": "run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                            "status": "completed",
                            "goal": "Write a short report on how our pumps are maintained",
                            "user_id": "ada",
                            "created_at": "2026-11-22T09:00:00Z",
                            "closed_at": "2026-11-22T09:00:12Z",
                        }
                    ],
                    "next_page_token": "CgZydW4tMDE.9c1f03a2b7e4d615",
                }
            ]
        }
    )

    runs: list[RunSummary]
    next_page_token: str | None


class ApprovalBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"decision": "approve", "args_hash": "9f2c4e1a7b3d5f60"},
                {"decision": "reject", "args_hash": "9f2c4e1a7b3d5f60", "comment": "not today"},
            ]
        },
    )

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


async def _check_concurrency(
    temporal: TemporalDep, settings: Settings, principal: Principal, user_id: str
) -> None:
    """At most the key's `max_concurrent_runs` runs of this user running at once (counted in
    Temporal, so every API process sees the same number)."""
    limit = principal.max_concurrent_runs
    if limit is None:
        return
    query = (
        f"WorkflowType = '{AgentRunWorkflow.__name__}' AND ExecutionStatus = 'Running'"
        f" AND {sa.TENANT.name} = {quoted(principal.tenant)} AND {sa.USER.name} = {quoted(user_id)}"
    )
    counted = await read_within(settings, temporal.count_workflows(query), "the running runs")
    if counted.count >= limit:
        raise RateLimited(
            f"this key may have {limit} runs running at once; wait for one to finish",
            retry_after=settings.retry_after_s,
            details={"limit": "concurrent_runs"},
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
    registry: RegistryDep,
    skills: SkillsDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> RunCreated:
    goal, input_findings = checked_goal(body.goal, settings)
    # The planning that needs no model (a client's plan, the rule planner's) is done now: a bad
    # request never becomes a failed run, and the run starts with its plan. The LLM planner's
    # checks are made here too; the run writes that plan itself.
    planning = check_run_request(
        registry,
        skills,
        goal=goal,
        planner=body.planner,
        skill=body.skill,
        inputs=body.inputs,
        plan=body.plan,
        roles=sorted(principal.roles),
        bundled_model=settings.model_fast == BUNDLED_MODEL,
    )
    run_id = _run_id_for(principal.tenant, idempotency_key)
    user_id = body.user_id or principal.user_id
    if user_id != principal.user_id and not principal.roles & {"admin", "operator"}:
        raise Forbidden(
            "only admin and operator keys may start runs for another user_id; this key is "
            f"{principal.user_id!r}'s"
        )
    await _check_concurrency(temporal, settings, principal, user_id)
    fingerprint = body.fingerprint()
    run_input = AgentRunInput(
        patches=CURRENT_PATCHES,
        goal=goal,
        input_findings=input_findings,
        tenant=principal.tenant,
        user_id=user_id,
        session_id=body.session_id,
        roles=sorted(principal.roles),
        skill=body.skill,
        inputs=body.inputs,
        planner=body.planner,
        # Once in the input: `planning` holds the checked plan when there is one.
        plan=body.plan if planning is None else None,
        budget_usd=body.budget_usd,
        max_tokens=body.max_tokens,
        max_steps=body.max_steps,
        max_replans=body.max_replans,
        activity_queues=settings.activity_queues(),
        planning=planning,
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
            search_attributes=sa.owned_by(principal.tenant, user_id, RunStatus.QUEUED),
            memo={"goal": goal[:2000], "request_sha256": fingerprint},
            static_summary=goal[:400],
            rpc_timeout=timedelta(seconds=settings.read_timeout_s * 3),
        )
    except WorkflowAlreadyStartedError:
        if idempotency_key is None:  # a ULID collision: cannot happen
            raise
        return await _existing_run(temporal, settings, run_id, fingerprint, links)
    except UNREACHABLE as e:
        raise unavailable(settings, "the run", e) from e
    telemetry.RUNS_STARTED.labels(principal.tenant).inc()
    return RunCreated(run_id=run_id, status=RunStatus.QUEUED, links=links)


async def _existing_run(
    temporal: TemporalDep, settings: Settings, run_id: str, fingerprint: str, links: RunLinks
) -> RunCreated:
    """The run an Idempotency-Key already started, if it was started by the same request."""
    description = await read_within(
        settings, temporal.get_workflow_handle(run_id).describe(), run_id
    )
    memo = await description.memo()
    if memo.get("request_sha256", fingerprint) != fingerprint:
        raise Conflict(
            "this Idempotency-Key was already used for a different request (run "
            f"{run_id}); use a new key for a new request"
        )
    status = status_of(description.status, description.typed_search_attributes.get(sa.STATUS))
    return RunCreated(run_id=run_id, status=status, links=links)


@router.get("", response_model=RunList)
async def list_runs(
    principal: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    status: RunStatus | None = None,
    user_id: Annotated[str | None, Query(max_length=200, pattern=SAFE_VALUE.pattern)] = None,
    schedule_id: Annotated[
        str | None, Query(max_length=200, pattern=SAFE_VALUE.pattern, description="its runs")
    ] = None,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    page_token: Annotated[str | None, Query(max_length=4096)] = None,
) -> RunList:
    clauses = [
        f"WorkflowType = '{AgentRunWorkflow.__name__}'",
        f"{sa.TENANT.name} = {quoted(principal.tenant)}",
    ]
    if status is not None:
        clauses.append(f"{sa.STATUS.name} = {quoted(status.value)}")
    if user_id is not None:
        clauses.append(f"{sa.USER.name} = {quoted(user_id)}")
    if schedule_id is not None:  # Temporal tags the runs a schedule starts
        clauses.append(f"TemporalScheduledById = {quoted(schedule_id)}")
    query = " AND ".join(clauses)
    token = _open_page_token(page_token, query) if page_token else None
    iterator = temporal.list_workflows(query, page_size=page_size, next_page_token=token)
    try:
        await read_within(settings, iterator.fetch_next_page(), "the run list")
    except RPCError as e:  # INVALID_ARGUMENT: a filter Temporal cannot take
        raise ValidationFailed(f"cannot list runs: {e.message}") from None
    runs = []
    for execution in iterator.current_page or []:
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
    request: Request,
    response: Response,
    principal: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    pool: DbDep,
    wait_s: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_WAIT_S,
            description="hold the answer until the run has ended or this many seconds have "
            "passed (a long poll: ask again while `status` is not final)",
        ),
    ] = 0,
) -> RunState:
    """The run's state: status, plan with each step's state, pending approvals (with the
    arguments to approve), result, usage. The `Link` header points at the run in the Temporal UI
    (`rel="temporal-ui"`) and at its event stream (`rel="events"`).

    With `wait_s`, the answer comes when the run ends (or after `wait_s`): Temporal's long poll
    on the run's close event, so waiting costs the workers nothing, unlike polling or following
    the events."""
    handle, description = await owned_run(temporal, settings, run_id, principal.tenant)
    if wait_s > 0 and description.status == WorkflowExecutionStatus.RUNNING:
        with contextlib.suppress(TimeoutError, WorkflowFailureError, *UNREACHABLE):
            await asyncio.wait_for(handle.result(rpc_timeout=timedelta(seconds=wait_s)), wait_s)
        description = await read_within(settings, handle.describe(), f"run {run_id}")
    links = _links(request, settings, run_id)
    response.headers["Link"] = (
        f'<{links.temporal_ui}>; rel="temporal-ui", <{links.events}>; rel="events"'
    )
    return await current_state(handle, description, settings, RunSnapshotStore(pool))


TRACE_EXAMPLE = {
    "run_id": "run-01jd2x7k9q3m5n8p4r6s0t2v4w",
    "tenant": "acme",
    "user_id": "ada",
    "goal": "Write a short report on how our pumps are maintained",
    "status": "completed",
    "created_at": "2026-11-22T09:00:00Z",
    "updated_at": "2026-11-22T09:00:12Z",
    "duration_ms": 12140.0,
    "error": None,
    "steps": [
        {
            "id": "retrieve",
            "kind": "retrieve",
            "title": "Find sources on pump maintenance",
            "status": "completed",
            "attempts": 1,
            "depends_on": [],
            "started_at": "2026-11-22T09:00:01Z",
            "ended_at": "2026-11-22T09:00:02Z",
            "duration_ms": 840.0,
            "output_ref": "/v1/runs/run-01jd2x7k9q3m5n8p4r6s0t2v4w/steps/retrieve/output",
            "error": None,
            "usage": {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0},
        }
    ],
    "entries": [
        {
            "seq": 1,
            "at": "2026-11-22T09:00:00Z",
            "kind": "plan",
            "summary": "the rule planner chose the skill research_report (3 steps)",
            "data": {"planner": "rule", "steps": 3},
        }
    ],
    "usage": {"input_tokens": 5120, "output_tokens": 860, "cost_usd": 0.0042},
    "truncated": False,
}


@router.get("/{run_id}/trace", response_model=RunTrace, responses=example(TRACE_EXAMPLE))
async def run_trace(
    run_id: str,
    principal: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    pool: DbDep,
) -> RunTrace:
    """The run's decision trace: the plan and each revision with the planner's reason, every
    step with its attempts, duration, error and output (by reference), model routing and
    escalations, guardrail decisions with the rule that fired, approvals with who answered and
    when, usage and cost. Built live for a running run; kept in PostgreSQL once it ends."""
    handle, description = await owned_run(temporal, settings, run_id, principal.tenant)
    if description.status != WorkflowExecutionStatus.RUNNING:
        kept = await TraceStore(pool).get(run_id, principal.tenant)
        if kept is not None:
            return kept
    state = await current_state(handle, description, settings, RunSnapshotStore(pool))
    try:
        events = await _whole_log(handle, settings)
    except QUERY_FAILED as e:
        raise TransientError(
            f"the run's log cannot be read right now ({e})", retry_after=settings.retry_after_s
        ) from e
    return build_trace(state, events)


async def _whole_log(handle: WorkflowHandle[Any, Any], settings: Settings) -> list[RunEvent]:
    """Every event the run keeps (a closed run answers queries too, until retention)."""
    events: list[RunEvent] = await query_within(
        settings,
        handle.query(
            AgentRunWorkflow.events,
            EventsQuery(after_seq=0),
            rpc_timeout=timedelta(seconds=settings.query_timeout_s),
        ),
    )
    return events


async def _refuse_answer_to_ended_run(
    handle: WorkflowHandle[Any, Any],
    settings: Settings,
    pool: asyncpg.Pool,
    tenant: str,
    approval_id: str,
) -> None:
    """409 for an answer to a run that has ended, saying who answered it when someone did
    (approving twice is the usual way here). Read from the run's kept decision trace (no worker
    needed), else from its log."""
    kept = await TraceStore(pool).get(handle.id, tenant)
    if kept is not None:
        answers = [
            (e.data, e.at) for e in kept.entries if e.kind == "approval" and "decision" in e.data
        ]
    else:
        try:
            events = await _whole_log(handle, settings)
        except QUERY_FAILED:
            events = []
        answers = [(e.data, e.at) for e in events if e.type == RunEventType.APPROVAL_ANSWERED]
    for data, at in answers:
        if data.get("approval_id") == approval_id:
            raise Conflict(
                f"approval {approval_id!r} was already answered ({data.get('decision')} "
                f"by {data.get('reviewer') or 'someone'} at {at:%Y-%m-%d %H:%M} UTC) "
                f"and run {handle.id} has ended"
            )
    raise Conflict(f"run {handle.id} has already ended; there is nothing to approve")


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
    handle, description = await owned_run(temporal, settings, run_id, principal.tenant)
    if description.status != WorkflowExecutionStatus.RUNNING:
        await _refuse_answer_to_ended_run(handle, settings, pool, principal.tenant, approval_id)
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
            raise approval_error(cause.type, cause.message) from None
        raise
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        pass  # no worker answered in time: record the answer durably instead (below)
    except RPCError as e:
        # The run may have ended between our look and the update (it completed, or timed out).
        again = await read_within(settings, handle.describe(), run_id)
        require_running(again, "there is nothing to approve")
        raise TransientError(
            f"the run did not take the answer: {e.message}", retry_after=settings.retry_after_s
        ) from e
    step_id = await check_against_last_known(
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


@router.get(
    "/{run_id}/steps/{step_id}/output",
    response_model=StepOutput,
    responses=example(
        {
            "step_id": "answer",
            "status": "completed",
            "output": {"text": "Pumps are inspected monthly [1].", "citations": []},
        }
    ),
)
async def step_output(
    run_id: str, step_id: str, principal: PrincipalDep, temporal: TemporalDep, settings: SettingsDep
) -> StepOutput:
    """A step's full output (a run's state shows each step's status; this shows what it made)."""
    handle, _ = await owned_run(temporal, settings, run_id, principal.tenant)
    try:
        output: StepOutput = await query_within(
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


@router.post(
    "/{run_id}/cancel",
    status_code=202,
    response_model=CancelAccepted,
    responses=example(
        {"run_id": "run-01jd2x7k9q3m5n8p4r6s0t2v4w", "status": "cancelling"}, status=202
    ),
)
async def cancel_run(
    run_id: str, principal: PrincipalDep, temporal: TemporalDep, settings: SettingsDep
) -> CancelAccepted:
    handle, description = await owned_run(temporal, settings, run_id, principal.tenant)
    require_running(description, "it cannot be cancelled")
    # A Temporal cancellation request, as the Web UI's Cancel button sends: the run stops its
    # steps (activities learn of it through their heartbeats) and ends as cancelled.
    await read_within(settings, handle.cancel(), "the cancellation")
    return CancelAccepted(run_id=run_id, status="cancelling")


@router.get(
    "/{run_id}/events",
    response_class=EventStreamResponse,
    responses=sse_example(
        ": connected\n\n"
        'id: 3\nevent: step.started\ndata: {"seq": 3, "type": "step.started", '
        '"at": "2026-11-22T09:00:03Z", "step_id": "answer", "data": {}}\n\n'
        'event: llm.delta\ndata: {"step_id": "answer", "attempt": 1, "text": "Pumps are "}\n\n'
        'id: 4\nevent: run.finished\ndata: {"seq": 4, "type": "run.finished", '
        '"at": "2026-11-22T09:00:12Z", "step_id": null, "data": {"status": "completed"}}\n\n',
        "Server-sent events: each step event with its `id` (resume with `Last-Event-ID`), "
        "`llm.delta` events without one, `run.finished` last",
    ),
)
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
    handle, _ = await owned_run(temporal, settings, run_id, principal.tenant)
    if last_event_id and last_event_id.isdigit():
        after = max(after, int(last_event_id))
    return EventStreamResponse(
        event_stream(handle, settings, after, deltas),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# --- helpers ------------------------------------------------------------------------------
