"""Decision traces are kept `AIOS_TRACE_RETENTION_DAYS`, swept by the recording activity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio.testing import ActivityEnvironment

from activities.trace import TraceActivities
from aios.models import Usage
from aios.stores.traces import TraceStore
from aios.trace import RunTrace


def _trace(run_id: str, finished: datetime) -> RunTrace:
    return RunTrace(
        run_id=run_id,
        tenant="retention",
        user_id="u",
        goal="g",
        status="completed",
        created_at=finished,
        updated_at=finished,
        duration_ms=1.0,
        steps=[],
        entries=[],
        usage=Usage(),
    )


async def test_old_traces_are_swept_by_a_recording_at_most_once_an_hour(
    pool: asyncpg.Pool,
) -> None:
    store, now = TraceStore(pool), datetime.now(UTC)
    activities = TraceActivities(pool, retention_days=1)
    await store.save(_trace("run-retention-old", now - timedelta(days=2)))
    await ActivityEnvironment().run(activities.record_trace, _trace("run-retention-1", now))
    assert await store.get("run-retention-old", "retention") is None, "past retention: gone"
    assert await store.get("run-retention-1", "retention") is not None

    # The next sweep is an hour away: a trace that expires meanwhile waits for it.
    await store.save(_trace("run-retention-old-2", now - timedelta(days=2)))
    await ActivityEnvironment().run(activities.record_trace, _trace("run-retention-2", now))
    assert await store.get("run-retention-old-2", "retention") is not None
