"""What a terminal shows of the API's answers: a run's progress as it goes (one line per event,
the model's text as it writes it), its report, and its decision trace. Used by the CLI and the
demo."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aios.client.clients import ApiClient
from aios.models import RunState
from aios.trace import RunTrace
from aios.vocabulary import RunEventType


def describe_event(event: dict[str, Any]) -> str | None:
    """One line of progress for a run event, or None for events not worth a line."""
    kind = event.get("type", "")
    data = event.get("data") or {}
    step = data.get("step_id")
    inner = data.get("data") or {}
    match kind:
        case RunEventType.RUN_STARTED:
            return "run started"
        case RunEventType.PLAN_READY:
            return f"plan ready ({inner.get('planner')}): {' -> '.join(inner.get('steps', []))}"
        case RunEventType.STEP_STARTED:
            return f"  step {step}: running — {inner.get('title', '')}"
        case RunEventType.STEP_FINISHED:
            return f"  step {step}: completed (attempts: {inner.get('attempts', 1)})"
        case RunEventType.STEP_FAILED:
            return f"  step {step}: FAILED — {inner.get('error')}"
        case RunEventType.STEP_SKIPPED:
            return f"  step {step}: skipped — {inner.get('reason')}"
        case RunEventType.APPROVAL_REQUESTED:
            arguments = json.dumps(inner.get("args"), default=str)
            if len(arguments) > 300:
                arguments = arguments[:300] + "…"
            return (
                f"  step {step}: awaiting approval {inner.get('approval_id')} — "
                f"{inner.get('reason')}\n    arguments: {arguments}\n"
                f"    expires: {inner.get('expires_at')}\n"
                f"    answer with: aios approve {{run_id}} "
                f"{inner.get('approval_id')}   (or --reject --reason TEXT)"
            )
        case RunEventType.APPROVAL_ANSWERED:
            return f"  approval {inner.get('approval_id')}: {inner.get('decision')}"
        case RunEventType.APPROVAL_EXPIRED:
            return f"  approval {inner.get('approval_id')}: expired"
        case RunEventType.RESEARCH_PROGRESS:
            return _research_line(step, inner)
        case RunEventType.CONTEXT_TRIMMED:
            return f"  step {step}: {inner.get('note')}"
        case RunEventType.RUN_FINISHED:
            status = inner.get("status") or data.get("status")
            error = inner.get("error") or inner.get("reason")
            return f"run {status}" + (f": {error}" if error else "")
    return None


def _research_line(step: str | None, inner: dict[str, Any]) -> str | None:
    """A research step's progress (workflows/run/research_step.py) in a line."""
    phase, round_ = inner.get("phase"), inner.get("round")
    head = f"  step {step}: round {round_}"
    match phase:
        case "questions":
            return f"{head}: " + "; ".join(str(q) for q in inner.get("questions", []))
        case "read":
            return f"{head}: read {inner.get('url')}"
        case "skipped":
            return f"{head}: skipped {inner.get('url')} — {inner.get('reason')}"
        case "notes":
            return f"{head}: {len(inner.get('sources', []))} new sources noted"
        case "web_unavailable":
            return f"{head}: web not searched — {inner.get('reason')}"
        case "done":
            stopped, sources = inner.get("stopped"), inner.get("sources")
            return f"  step {step}: research done ({stopped}, {sources} sources)"
    return None


def write_inline(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


async def follow(
    api: ApiClient,
    run_id: str,
    printer: Callable[[str], None] = print,
    on_delta: Callable[[str], None] | None = write_inline,
    *,
    stop_at_approval: bool = False,
) -> RunState:
    """Print progress until the run ends (or, with `stop_at_approval`, until it waits for a
    person), and the model's text as it writes it (`on_delta`; None to leave it out); returns
    the run's state."""
    streaming = False
    async for event in api.events(run_id):
        if event.get("type") == RunEventType.LLM_DELTA:
            if on_delta is not None:
                if not streaming:
                    on_delta("    ")
                on_delta(str((event.get("data") or {}).get("text", "")).replace("\n", "\n    "))
                streaming = True
            continue
        line = describe_event(event)
        if line:
            if streaming and on_delta is not None:
                on_delta("\n")
            streaming = False
            printer(line.replace("{run_id}", run_id))
        if stop_at_approval and event.get("type") == RunEventType.APPROVAL_REQUESTED:
            break
    return await api.get_run(run_id)


def format_report(run: RunState) -> str:
    result = run.result
    lines = [(result.answer.strip() if result else "") or "(no answer)"]
    citations = result.citations if result else []
    if citations:
        lines += ["", "Sources:"]
        for i, c in enumerate(citations, 1):
            number = c.n or i  # the number the answer cites it by
            lines.append(f"  [{number}] {c.title or c.source} — {c.source} ({c.chunk_id})")
    usage = run.usage
    lines += [
        "",
        f"Tokens: {usage.input_tokens} in, {usage.output_tokens} out; cost ${usage.cost_usd:.4f}",
    ]
    return "\n".join(lines)


def format_trace(trace: RunTrace) -> str:
    """A decision trace for a terminal: the run, its steps with durations, then the timeline
    (offsets from the start), then usage."""

    def offset(at: datetime) -> str:
        return f"+{(at - trace.created_at).total_seconds():7.2f}s"

    def took(ms: float | None) -> str:
        return f"{ms / 1000:.2f}s" if ms is not None else "-"

    lines = [
        f"run {trace.run_id}  {trace.status}  {took(trace.duration_ms)}  "
        f"({trace.tenant}/{trace.user_id})",
        f"goal: {' '.join(trace.goal.split())[:200]}",
    ]
    if trace.error:
        lines.append(f"error: {trace.error}")
    lines += ["", "steps:"]
    for step in trace.steps:
        tokens = step.usage.input_tokens + step.usage.output_tokens
        lines.append(
            f"  {step.id:<16} {step.status:<18} {took(step.duration_ms):>8}  "
            f"attempts {step.attempts}  tokens {tokens}"
            + (f"  error: {step.error}" if step.error else "")
        )
    lines += ["", "timeline:"]
    for entry in trace.entries:
        where = f" [{entry.step_id}]" if entry.step_id else ""
        lines.append(f"  {offset(entry.at)}  {entry.kind:<9}{where} {entry.summary}")
    if trace.truncated:
        lines.append("  (earlier events were not kept: the run's log is capped)")
    usage = trace.usage
    lines += [
        "",
        f"usage: {usage.input_tokens} tokens in, {usage.output_tokens} out, ${usage.cost_usd:.4f}",
    ]
    return "\n".join(lines)
