"""The run event stream (`GET /v1/runs/{id}/events`): the workflow's progress log polled by
query, `llm.delta` relayed from the delta channel as it comes, keep-alives, and one `error` event
(then carrying on) while Temporal is unreachable."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from aios.config import Settings
from aios.models import EventsQuery, RunEvent
from aios.stores.deltas import Delta, DeltaHub
from aios.vocabulary import RunEventType
from api.temporal_reads import QUERY_FAILED, UNREACHABLE, query_within, status_of
from workflows.agent_run import AgentRunWorkflow

EVENT_POLL_S = 0.5


def format_sse(kind: str, data: Any, event_id: int | None = None) -> str:
    """One server-sent event: `id` (for resuming with Last-Event-ID), `event`, JSON `data`."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"


async def event_stream(
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
        return format_sse(kind, data, event_id)

    yield ": connected\n\n"
    while True:
        events: list[RunEvent] | None
        try:
            events = await query_within(
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
                    status = status_of(description.status, None)
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
