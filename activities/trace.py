"""Keeping a finished run's decision trace: the last activity of every run."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio import activity

from activities.common import classified
from activities.memory import MemoryService
from aios import telemetry
from aios.models import RunResult
from aios.stores.reports import Report, ReportStore, report_id_for
from aios.stores.traces import TraceStore
from aios.text import drop_empty_sections
from aios.trace import RunTrace
from aios.vocabulary import Activity, RunStatus

log = logging.getLogger("aios.activities")

# The retention policy is applied by the first recording after a worker starts, then at most this
# often per worker process (not on every run: a DELETE per finished run was a database round
# trip on every run's path for traces that expire in days).
RETENTION_SWEEP_EVERY_S = 3600.0


class TraceActivities:
    def __init__(
        self, pool: asyncpg.Pool, retention_days: int, memory: MemoryService | None = None
    ) -> None:
        self._store = TraceStore(pool)
        self._reports = ReportStore(pool)
        # Where a run in a conversation leaves its answer (redacted as chat messages are).
        self._memory = memory
        self._retention = timedelta(days=retention_days)
        self._next_sweep = 0.0  # time.monotonic() of the next retention sweep

    @activity.defn(name=Activity.RECORD_TRACE)
    @classified
    async def record_trace(self, trace: RunTrace) -> None:
        """Save the trace, apply the retention policy to older traces when it is due, and count
        the run as finished: last, so a retried attempt (the save and delete are idempotent)
        counts once. A completed report run's answer is kept as its report."""
        await self._store.save(trace)
        if trace.status == RunStatus.COMPLETED and trace.result is not None:
            if trace.report:
                await self._reports.save_run_report(report_of(trace, trace.result))
            if trace.session_id and self._memory is not None:
                await self._append_to_session(self._memory, trace, trace.session_id, trace.result)
        if time.monotonic() >= self._next_sweep:
            removed = await self._store.delete_before(datetime.now(UTC) - self._retention)
            self._next_sweep = time.monotonic() + RETENTION_SWEEP_EVERY_S
            if removed:
                log.info("removed %d decision traces older than %s", removed, self._retention)
        telemetry.RUNS_FINISHED.labels(trace.status).inc()

    async def _append_to_session(
        self, memory: MemoryService, trace: RunTrace, session_id: str, result: RunResult
    ) -> None:
        """A run in a conversation leaves its goal and answer there, as a chat turn would: the
        session's next turn (or run) sees them. Keyed by the run, so a retry adds nothing."""
        for role, content, message_id in (
            ("user", trace.goal, f"run:{trace.run_id}"),
            ("assistant", result.answer, f"run:{trace.run_id}/reply"),
        ):
            await memory.append_message(
                trace.tenant,
                session_id,
                role=role,
                content=content,
                message_id=message_id,
                user_id=trace.user_id,
            )


MAX_TITLE_CHARS = 300


def report_of(trace: RunTrace, result: RunResult) -> Report:
    """The report of a completed report run: titled by its goal (cut at a word boundary)."""
    title = " ".join(trace.goal.split())
    if len(title) > MAX_TITLE_CHARS:
        title = title[: MAX_TITLE_CHARS - 1].rsplit(" ", 1)[0].rstrip() + "…"
    return Report(
        id=report_id_for(trace.run_id),
        tenant=trace.tenant,
        run_id=trace.run_id,
        user_id=trace.user_id,
        title=title or trace.run_id,
        markdown=drop_empty_sections(result.answer),
        citations=[c.model_dump(mode="json") for c in result.citations],
    )
