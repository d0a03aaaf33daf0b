"""The run event stream (`GET /v1/runs/{id}/events`): the workflow's progress log read by query
whenever the run's history grows, `llm.delta` relayed from the delta channel as it comes,
keep-alives, and one `error` event (then carrying on) while Temporal is unreachable.

When to query: Temporal's long poll on the history (`wait_new_event`) says when the run moved
(every change of its state is recorded there), at no cost to the worker; until it answers, or
while it cannot, a query every `EVENT_POLL_S`. Polling alone made a client learn of each step
up to half a second late (bench/README.md) and sent the worker two queries a second per stream."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from fastapi.responses import StreamingResponse
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from aios.config import Settings
from aios.models import EventsQuery, RunEvent
from aios.stores.deltas import Delta, DeltaHub
from aios.vocabulary import RunEventType
from api.temporal_reads import QUERY_FAILED, UNREACHABLE, query_within, status_of
from workflows.agent_run import AgentRunWorkflow

# Without word from the history long poll (Temporal unreachable, or the run quiet), query this
# often anyway.
EVENT_POLL_S = 2.0


class EventStreamResponse(StreamingResponse):
    """A server-sent event stream (so the OpenAPI document shows `text/event-stream`)."""

    media_type = "text/event-stream"


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


# The history events after which the run's event log can have grown: the workflow's code only
# runs in workflow tasks, and the run's end. (Activities starting and finishing, tasks being
# scheduled: nothing to ask the worker about yet; each query costs the worker a task.)
_EVENT_LOG_MAY_GROW = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}


class HistoryWatch:
    """Temporal's long poll on a run's history: `moved` is set whenever a workflow task completes
    or the run ends (no worker involved). Restarted after it fails (an outage); `closed` once the
    run has ended."""

    def __init__(self, handle: WorkflowHandle[Any, Any]) -> None:
        self._handle = handle
        self.moved = asyncio.Event()
        self._task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        async for event in self._handle.fetch_history_events(
            wait_new_event=True, skip_archival=True
        ):
            if event.event_type in _EVENT_LOG_MAY_GROW:
                self.moved.set()
        self.moved.set()

    @property
    def closed(self) -> bool:
        return self._task.done() and not self._task.cancelled() and not self._task.exception()

    def keep_watching(self) -> None:
        if self._task.done() and not self.closed:
            self._task = asyncio.create_task(self._watch())

    def stop(self) -> None:
        self._task.cancel()


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
    watch = HistoryWatch(handle)
    try:
        while True:
            watch.moved.clear()
            watch.keep_watching()
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
            # The query failed, or the run closed without saying so (terminated, say).
            if events is None or (not events and watch.closed):
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
            # Until the run moves (or the next poll), relay what the model writes as it comes.
            next_poll = time.monotonic() + min(EVENT_POLL_S, settings.sse_keepalive_s)
            while not watch.moved.is_set() and (wait := next_poll - time.monotonic()) > 0:
                delta = await _next_delta(deltas, watch.moved, wait)
                if delta is not None:
                    yield sse(
                        RunEventType.LLM_DELTA,
                        {"step_id": delta.step_id, "attempt": delta.attempt, "text": delta.text},
                    )
    finally:
        watch.stop()


async def _next_delta(
    deltas: asyncio.Queue[Delta], moved: asyncio.Event, timeout_s: float
) -> Delta | None:
    """The next streamed delta, or None when the run moved or `timeout_s` passed first."""
    if not deltas.empty():
        return deltas.get_nowait()
    getter = asyncio.ensure_future(deltas.get())
    mover = asyncio.ensure_future(moved.wait())
    try:
        await asyncio.wait({getter, mover}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        mover.cancel()
        if not getter.done():
            getter.cancel()
    return getter.result() if getter.done() and not getter.cancelled() else None
