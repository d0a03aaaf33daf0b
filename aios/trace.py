"""A run's decision trace: the auditable account of what it decided and why.

Built from the run's state and its event log by one pure function, used alike by the workflow
(which hands the finished trace to an activity that keeps it in PostgreSQL, past Temporal's
retention) and by the API (which builds it live for a run still going). Step outputs appear by
reference (`steps/<id>/output`), never inline: the trace stays small and holds no payloads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from aios.models import RunEvent, RunState, Usage
from aios.vocabulary import RunEventType


class TraceEntry(BaseModel):
    """One decision or happening, in order."""

    seq: int
    at: datetime
    kind: str  # plan | revision | step | approval | guardrail | routing | run
    step_id: str | None = None
    summary: str
    data: dict[str, Any] = Field(default_factory=dict)


class TraceStep(BaseModel):
    id: str
    kind: str
    title: str
    status: str
    attempts: int
    depends_on: list[str] = Field(default_factory=list)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_ms: float | None = None
    output_ref: str | None = None
    error: str | None = None
    usage: Usage = Field(default_factory=Usage)


class RunTrace(BaseModel):
    run_id: str
    tenant: str
    user_id: str
    goal: str
    status: str
    created_at: datetime
    updated_at: datetime
    duration_ms: float
    error: str | None = None
    steps: list[TraceStep]
    entries: list[TraceEntry]
    usage: Usage
    # Whether the event log was cut (very long runs keep their latest events only).
    truncated: bool = False


def _ms(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() * 1000, 1)


def _entry(event: RunEvent) -> TraceEntry | None:
    data = event.data
    match event.type:
        case RunEventType.PLAN_READY:
            return TraceEntry(
                seq=event.seq,
                at=event.at,
                kind="plan",
                summary=f"planned by {data.get('planner')}: {' -> '.join(data.get('steps', []))}",
                data=data,
            )
        case RunEventType.PLAN_REVISED:
            return TraceEntry(
                seq=event.seq,
                at=event.at,
                kind="revision",
                step_id=event.step_id,
                summary=f"revised by {data.get('planner')} after {event.step_id} failed "
                f"({data.get('reason')}): added {', '.join(data.get('steps', [])) or 'nothing'}",
                data=data,
            )
        case RunEventType.STEP_STARTED:
            summary = f"started: {data.get('title') or event.step_id}"
        case RunEventType.STEP_FINISHED:
            summary = f"completed after {data.get('attempts', 1)} attempt(s)"
        case RunEventType.STEP_FAILED:
            summary = f"failed: {data.get('error')}"
        case RunEventType.STEP_SKIPPED:
            summary = f"skipped: {data.get('reason')}"
        case RunEventType.APPROVAL_REQUESTED:
            return TraceEntry(
                seq=event.seq,
                at=event.at,
                kind="approval",
                step_id=event.step_id,
                summary=f"approval {data.get('approval_id')} requested: {data.get('reason')}",
                data={k: data.get(k) for k in ("approval_id", "reason", "args_hash", "expires_at")},
            )
        case RunEventType.APPROVAL_ANSWERED:
            who = data.get("reviewer") or "someone"
            comment = f" ({data['comment']})" if data.get("comment") else ""
            return TraceEntry(
                seq=event.seq,
                at=event.at,
                kind="approval",
                step_id=event.step_id,
                summary=f"approval {data.get('approval_id')}: {data.get('decision')} by {who}"
                + comment,
                data=data,
            )
        case RunEventType.APPROVAL_EXPIRED:
            return TraceEntry(
                seq=event.seq,
                at=event.at,
                kind="approval",
                step_id=event.step_id,
                summary=f"approval {data.get('approval_id')} expired unanswered",
                data=data,
            )
        case RunEventType.GUARDRAIL:
            return TraceEntry(
                seq=event.seq,
                at=event.at,
                kind="guardrail",
                step_id=event.step_id,
                summary=f"{data.get('rule')} ({data.get('kind')}) {data.get('decision')} "
                f"in {data.get('source') or 'the run'}",
                data=data,
            )
        case RunEventType.MODEL_ROUTED:
            return TraceEntry(
                seq=event.seq,
                at=event.at,
                kind="routing",
                step_id=event.step_id,
                summary=f"{data.get('kind')}: {data.get('from_model')} -> {data.get('to_model')} "
                f"({data.get('reason')})",
                data=data,
            )
        case RunEventType.RUN_FINISHED:
            reason = data.get("error") or data.get("reason")
            return TraceEntry(
                seq=event.seq,
                at=event.at,
                kind="run",
                summary=f"run {data.get('status')}" + (f": {reason}" if reason else ""),
                data=data,
            )
        case _:
            return None  # usage, deltas, agent turns: in the steps and totals instead
    return TraceEntry(
        seq=event.seq, at=event.at, kind="step", step_id=event.step_id, summary=summary, data=data
    )


def build_trace(state: RunState, events: list[RunEvent]) -> RunTrace:
    entries = [entry for event in events if (entry := _entry(event)) is not None]
    steps = [
        TraceStep(
            id=s.id,
            kind=str(s.kind),
            title=s.title,
            status=str(s.status),
            attempts=s.attempts,
            depends_on=list(s.depends_on),
            started_at=s.started_at,
            ended_at=s.ended_at,
            duration_ms=_ms(s.started_at, s.ended_at),
            output_ref=s.output_ref,
            error=s.error,
            usage=s.usage,
        )
        for s in state.plan
    ]
    return RunTrace(
        run_id=state.run_id,
        tenant=state.tenant,
        user_id=state.user_id,
        goal=state.goal,
        status=str(state.status),
        created_at=state.created_at,
        updated_at=state.updated_at,
        duration_ms=_ms(state.created_at, state.updated_at) or 0.0,
        error=state.error,
        steps=steps,
        entries=entries,
        usage=state.usage,
        truncated=bool(events) and events[0].seq > 1,
    )
