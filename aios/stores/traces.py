"""Decision traces of finished runs in PostgreSQL (see aios/trace.py)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from aios.db import transient_on_connection_loss
from aios.trace import RunTrace


class TraceStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def save(self, trace: RunTrace) -> None:
        """Keep the trace (a retried recording replaces it with the same content)."""
        await self._pool.execute(
            "INSERT INTO run_traces (run_id, tenant, status, finished_at, trace)"
            " VALUES ($1, $2, $3, $4, $5::jsonb)"
            " ON CONFLICT (run_id) DO UPDATE SET status = EXCLUDED.status,"
            " finished_at = EXCLUDED.finished_at, trace = EXCLUDED.trace",
            trace.run_id,
            trace.tenant,
            trace.status,
            trace.updated_at,
            trace.model_dump_json(exclude={"result", "report", "session_id"}),
        )

    @transient_on_connection_loss
    async def get(self, run_id: str, tenant: str) -> RunTrace | None:
        row = await self._pool.fetchval(
            "SELECT trace FROM run_traces WHERE run_id = $1 AND tenant = $2", run_id, tenant
        )
        return RunTrace.model_validate_json(row) if row is not None else None

    @transient_on_connection_loss
    async def delete_before(self, cutoff: datetime) -> int:
        """The retention policy: traces of runs finished before `cutoff` go."""
        status: str = await self._pool.execute(
            "DELETE FROM run_traces WHERE finished_at < $1", cutoff
        )
        return int(status.split()[-1])

    @transient_on_connection_loss
    async def delete_tenant(self, tenant: str) -> int:
        status: str = await self._pool.execute("DELETE FROM run_traces WHERE tenant = $1", tenant)
        return int(status.split()[-1])
