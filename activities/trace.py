"""Keeping a finished run's decision trace: the last activity of every run."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio import activity

from activities.common import classified
from aios import telemetry
from aios.stores.traces import TraceStore
from aios.trace import RunTrace
from aios.vocabulary import Activity

log = logging.getLogger("aios.activities")


class TraceActivities:
    def __init__(self, pool: asyncpg.Pool, retention_days: int) -> None:
        self._store = TraceStore(pool)
        self._retention = timedelta(days=retention_days)

    @activity.defn(name=Activity.RECORD_TRACE)
    @classified
    async def record_trace(self, trace: RunTrace) -> None:
        """Save the trace, apply the retention policy to older traces, and count the run as
        finished: last, so a retried attempt (the save and delete are idempotent) counts once."""
        await self._store.save(trace)
        removed = await self._store.delete_before(datetime.now(UTC) - self._retention)
        if removed:
            log.info("removed %d decision traces older than %s", removed, self._retention)
        telemetry.RUNS_FINISHED.labels(trace.status).inc()
