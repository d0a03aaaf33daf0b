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

from aios.models import RunEvent, RunResult, RunState, Usage
from aios.versions import RunVersions
from aios.vocabulary import RunEventType


class TraceEntry(BaseModel):
    """One decision or happening, in order."""

    seq: int
    at: datetime
    # plan | revision | step | approval | guardrail | routing | confidence | context | run
    kind: str
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
    # The run's answer, for a report run (its plan has a `report` step: `report` is True; the
    # trace activity keeps it as the run's report, `GET /v1/reports`) or a run in a conversation
    # (`session_id`: the answer is appended to the session). Not part of the kept trace.
    result: RunResult | None = None
    report: bool = False
    session_id: str | None = None
    # The versions of prompts and skill the run used, and its pinned model (aios/versions.py).
    versions: RunVersions | None = None


# The step id report skills (research_report, data_report) give the step that writes the report.
REPORT_STEP = "report"


def _ms(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() * 1000, 1)


def _describe(event: RunEvent) -> tuple[str, str, dict[str, Any]] | None:
    """(kind, summary, data) of an event worth a line in the trace; None for the rest (usage,
    deltas and agent turns show in the steps and totals instead)."""
    data = event.data
    match event.type:
        case RunEventType.PLAN_READY:
            steps = " -> ".join(data.get("steps", []))
            why = f" ({data['rationale']})" if data.get("rationale") else ""
            return "plan", f"planned by {data.get('planner')}: {steps}{why}", data
        case RunEventType.PLAN_REVISED:
            added = ", ".join(data.get("steps", [])) or "nothing"
            return (
                "revision",
                f"revised by {data.get('planner')} after {event.step_id} failed "
                f"({data.get('reason')}): added {added}",
                data,
            )
        case RunEventType.STEP_STARTED:
            return "step", f"started: {data.get('title') or event.step_id}", data
        case RunEventType.STEP_FINISHED:
            return "step", f"completed after {data.get('attempts', 1)} attempt(s)", data
        case RunEventType.STEP_FAILED:
            return "step", f"failed: {data.get('error')}", data
        case RunEventType.STEP_SKIPPED:
            return "step", f"skipped: {data.get('reason')}", data
        case RunEventType.APPROVAL_REQUESTED:
            kept = {k: data.get(k) for k in ("approval_id", "reason", "args_hash", "expires_at")}
            said = f"approval {data.get('approval_id')} requested: {data.get('reason')}"
            if data.get("policy"):  # an approval policy set who answers and how many
                kept |= {k: data.get(k) for k in ("policy", "approvers", "approvals_required")}
                who = ", ".join(data.get("approvers") or []) or "anyone with the approver role"
                k = data.get("approvals_required") or 1
                said += f"; under {data['policy']}: {k} of {who}"
            if data.get("self_approval_policy"):  # four eyes off, and who said so
                kept["self_approval_policy"] = data["self_approval_policy"]
                said += f"; self-approval allowed by policy {data['self_approval_policy']}"
            return "approval", said, kept
        case RunEventType.APPROVAL_ANSWERED:
            who = data.get("reviewer") or "someone"
            comment = f" ({data['comment']})" if data.get("comment") else ""
            answer = f"approval {data.get('approval_id')}: {data.get('decision')} by {who}"
            if data.get("approvals"):  # k of n, not enough yet
                answer += f" ({data['approvals']}, still waiting)"
            if data.get("answer_edited"):
                answer += " with an edited answer"
            return "approval", answer + comment, data
        case RunEventType.APPROVAL_EXPIRED:
            return "approval", f"approval {data.get('approval_id')} expired unanswered", data
        case RunEventType.APPROVAL_ESCALATED:
            return (
                "approval",
                f"approval {data.get('approval_id')} unanswered: escalated (step "
                f"{data.get('level')}) to {', '.join(data.get('approvers') or [])}",
                data,
            )
        case RunEventType.APPROVAL_STANDING:
            return (
                "approval",
                f"approval {data.get('approval_id')} given in advance by standing approval "
                f"{data.get('standing_approval_id')} (created by {data.get('created_by')})",
                data,
            )
        case RunEventType.GUARDRAIL:
            return (
                "guardrail",
                f"{data.get('rule')} ({data.get('kind')}) {data.get('decision')} "
                f"in {data.get('source') or 'the run'}",
                data,
            )
        case RunEventType.MODEL_ROUTED:
            return (
                "routing",
                f"{data.get('kind')}: {data.get('from_model')} -> {data.get('to_model')} "
                f"({data.get('reason')})",
                data,
            )
        case RunEventType.ANSWER_CONFIDENCE:
            reasons = "; ".join(str(r) for r in data.get("reasons") or [])
            return (
                "confidence",
                f"answer confidence {data.get('score')}" + (f" ({reasons})" if reasons else ""),
                data,
            )
        case RunEventType.CONTEXT_TRIMMED:
            return "context", str(data.get("note") or "the prompt's documents were cut"), data
        case RunEventType.RUN_FINISHED:
            reason = data.get("error") or data.get("reason")
            return "run", f"run {data.get('status')}" + (f": {reason}" if reason else ""), data
    return None


def _entries(events: list[RunEvent]) -> list[TraceEntry]:
    entries = []
    for event in events:
        described = _describe(event)
        if described is not None:
            kind, summary, data = described
            entries.append(
                TraceEntry(
                    seq=event.seq,
                    at=event.at,
                    kind=kind,
                    step_id=event.step_id,
                    summary=summary,
                    data=data,
                )
            )
    return entries


def build_trace(
    state: RunState, events: list[RunEvent], *, session_id: str | None = None
) -> RunTrace:
    entries = _entries(events)
    report = any(s.id == REPORT_STEP for s in state.plan)
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
        result=state.result if report or session_id else None,
        report=report,
        session_id=session_id,
        versions=state.versions,
    )
