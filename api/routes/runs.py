"""Runs: start, list, inspect, approve, cancel, and follow agent runs.

The routes say what the API takes and answers; `api.run_service.RunService` does the work, the
same for every way a run is started (runs, skills, tool invocations, MCP).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from aios.models import ApprovalAck, RunState, StepOutput
from aios.trace import RunTrace
from aios.vocabulary import RunStatus
from aios.wire import (
    SAFE_VALUE,
    ApprovalBody,
    CancelAccepted,
    CreateRun,
    RunCreated,
    RunFilter,
    RunList,
)
from api import voice
from api.deps import PrincipalDep
from api.examples import example, sse_example
from api.run_events import EventStreamResponse
from api.run_service import RunsDep

# The longest `GET /v1/runs/{id}?wait_s=` holds a request (under common proxies' idle timeouts).
MAX_WAIT_S = 60.0
router = APIRouter(prefix="/v1/runs", tags=["runs"], route_class=voice.AudioForm)


@router.post(
    "",
    status_code=202,
    response_model=RunCreated,
    response_model_exclude_none=True,
    openapi_extra=voice.multipart_body(
        "goal",
        {"audio": "(the recording's bytes)", "language": "en", "skill": "research_report"},
        "the other fields of the JSON body (objects and arrays as JSON text)",
    ),
)
@voice.takes_audio("goal")
async def create_run(
    body: CreateRun,
    request: Request,
    response: Response,
    principal: PrincipalDep,
    runs: RunsDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> RunCreated:
    """Start a run. The goal may be spoken: send `multipart/form-data` with the recording as
    `audio` and the other fields as form fields; the transcript is the goal, and the answer
    shows it (`transcript`)."""
    transcript = await voice.transcribe_upload(request, principal)
    if transcript is not None:
        body = body.model_copy(update={"goal": transcript.text})
    created = await runs.start(
        principal, body, base_url=str(request.base_url), idempotency_key=idempotency_key
    )
    response.headers["Location"] = created.links.self
    return created.model_copy(update={"transcript": transcript})


@router.get("", response_model=RunList)
async def list_runs(
    principal: PrincipalDep,
    runs: RunsDep,
    status: RunStatus | None = None,
    user_id: Annotated[str | None, Query(max_length=200, pattern=SAFE_VALUE.pattern)] = None,
    schedule_id: Annotated[
        str | None, Query(max_length=200, pattern=SAFE_VALUE.pattern, description="its runs")
    ] = None,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    page_token: Annotated[str | None, Query(max_length=4096)] = None,
) -> RunList:
    which = RunFilter(status=status, user_id=user_id, schedule_id=schedule_id)
    return await runs.list_runs(principal, which, page_size=page_size, page_token=page_token)


@router.get("/{run_id}", response_model=RunState)
async def get_run(
    run_id: str,
    request: Request,
    response: Response,
    principal: PrincipalDep,
    runs: RunsDep,
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
    the events. A run reads as ended only once its workflow has closed."""
    state = await runs.state(principal, run_id, wait_s=wait_s)
    links = runs.links(str(request.base_url), run_id)
    response.headers["Link"] = (
        f'<{links.temporal_ui}>; rel="temporal-ui", <{links.events}>; rel="events"'
    )
    return state


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
async def run_trace(run_id: str, principal: PrincipalDep, runs: RunsDep) -> RunTrace:
    """The run's decision trace: the plan and each revision with the planner's reason, every
    step with its attempts, duration, error and output (by reference), model routing and
    escalations, guardrail decisions with the rule that fired, approvals with who answered and
    when, usage and cost. Built live for a running run; kept in PostgreSQL once it ends."""
    return await runs.trace(principal, run_id)


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
    runs: RunsDep,
) -> ApprovalAck:
    """200 when the run took the answer; 202 when no worker could take it in time — the answer is
    then recorded durably (as the `approve` signal) and applied as soon as a worker picks the run
    up, after the same checks."""
    ack, outcome = await runs.approvals.answer(principal, run_id, approval_id, body)
    if not outcome.final:
        response.status_code = 202
    return ack


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
    run_id: str, step_id: str, principal: PrincipalDep, runs: RunsDep
) -> StepOutput:
    """A step's full output (a run's state shows each step's status; this shows what it made)."""
    return await runs.step_output(principal, run_id, step_id)


@router.post(
    "/{run_id}/cancel",
    status_code=202,
    response_model=CancelAccepted,
    responses=example(
        {"run_id": "run-01jd2x7k9q3m5n8p4r6s0t2v4w", "status": "cancelling"}, status=202
    ),
)
async def cancel_run(run_id: str, principal: PrincipalDep, runs: RunsDep) -> CancelAccepted:
    return await runs.cancel(principal, run_id)


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
    runs: RunsDep,
    after: Annotated[int, Query(ge=0)] = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-sent events: step started/finished/failed/skipped, approvals, usage, and
    `run.finished` last. Reconnect with `Last-Event-ID` (or `?after=`) to resume. While a model
    writes, `llm.delta` events carry its text as it comes (they have no id: a reconnecting client
    gets the step events it missed, and the step's output holds the whole text).

    While Temporal is unreachable the stream stays open: it sends one `error` event (with
    `retry_after_s`) and keep-alive comments, and carries on where it was once Temporal answers."""
    if last_event_id and last_event_id.isdigit():
        after = max(after, int(last_event_id))
    return EventStreamResponse(
        await runs.events(principal, run_id, after),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
