"""Snapshots of run state as the API last saw it (see `GET /v1/runs/{id}`, `stale`)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from aios.db import transient_on_connection_loss
from aios.models import RunState


class RunSnapshotStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def save(self, state: RunState) -> None:
        """Keep `state` unless a newer one (by event sequence) is already kept."""
        await self._pool.execute(
            "INSERT INTO run_snapshots (run_id, tenant, last_event_seq, state)"
            " VALUES ($1, $2, $3, $4::jsonb)"
            " ON CONFLICT (run_id) DO UPDATE SET last_event_seq = EXCLUDED.last_event_seq,"
            " state = EXCLUDED.state, observed_at = now()"
            " WHERE run_snapshots.last_event_seq < EXCLUDED.last_event_seq",
            state.run_id,
            state.tenant,
            state.last_event_seq,
            state.model_dump_json(),
        )

    @transient_on_connection_loss
    async def get(self, run_id: str, tenant: str) -> tuple[RunState, datetime] | None:
        row = await self._pool.fetchrow(
            "SELECT state, observed_at FROM run_snapshots WHERE run_id = $1 AND tenant = $2",
            run_id,
            tenant,
        )
        if row is None:
            return None
        return RunState.model_validate_json(row["state"]), row["observed_at"]
