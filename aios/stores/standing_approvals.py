"""Standing approvals in PostgreSQL (aios/standing.py says what they are)."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

import asyncpg

from aios.db import transient_on_connection_loss
from aios.standing import ArgConstraint, StandingApproval, StandingUse, StandingUseRequest, matches

_COLUMNS = (
    "id, tenant, tool, constraints, expires_at, uses, uses_left, created_by, created_at,"
    " revoked_at, note"
)


def _record(row: asyncpg.Record) -> StandingApproval:
    data: dict[str, Any] = dict(row)
    data["constraints"] = json.loads(data["constraints"])
    return StandingApproval.model_validate(data)


class StandingApprovalStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def create(
        self,
        *,
        tenant: str,
        tool: str,
        constraints: dict[str, ArgConstraint],
        expires_at: datetime,
        uses: int,
        created_by: str,
        note: str = "",
    ) -> StandingApproval:
        row = await self._pool.fetchrow(
            "INSERT INTO standing_approvals (id, tenant, tool, constraints, expires_at, uses,"
            " uses_left, created_by, note) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $6, $7, $8)"
            f" RETURNING {_COLUMNS}",
            f"sa_{secrets.token_hex(8)}",
            tenant,
            tool,
            json.dumps({k: c.model_dump(exclude_none=True) for k, c in constraints.items()}),
            expires_at,
            uses,
            created_by,
            note,
        )
        return _record(row)

    @transient_on_connection_loss
    async def live_count(self, tenant: str, tool: str) -> int:
        count: int = await self._pool.fetchval(
            "SELECT count(*) FROM standing_approvals WHERE tenant = $1 AND tool = $2"
            " AND revoked_at IS NULL AND expires_at > now() AND uses_left > 0",
            tenant,
            tool,
        )
        return count

    @transient_on_connection_loss
    async def list(self, tenant: str, *, include_revoked: bool = False) -> list[StandingApproval]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM standing_approvals WHERE tenant = $1"
            " AND ($2 OR revoked_at IS NULL) ORDER BY created_at, id",
            tenant,
            include_revoked,
        )
        return [_record(r) for r in rows]

    @transient_on_connection_loss
    async def revoke(self, tenant: str, standing_id: str) -> bool:
        """True when a live one of this tenant's was revoked now."""
        status: str = await self._pool.execute(
            "UPDATE standing_approvals SET revoked_at = now()"
            " WHERE id = $1 AND tenant = $2 AND revoked_at IS NULL",
            standing_id,
            tenant,
        )
        return status.endswith(" 1")

    @transient_on_connection_loss
    async def use(self, request: StandingUseRequest) -> StandingUse | None:
        """Consume one use of a live standing approval of the tenant that allows this action
        (the oldest first), atomically; the same `use_key` again returns the use it made."""
        async with self._pool.acquire() as conn, conn.transaction():
            earlier = await conn.fetchrow(
                "SELECT s.id, s.created_by, s.uses_left, s.expires_at"
                " FROM standing_approval_uses u JOIN standing_approvals s ON s.id = u.standing_id"
                " WHERE u.use_key = $1 AND s.tenant = $2",
                request.use_key,
                request.tenant,
            )
            if earlier is not None:
                return _use(earlier)
            # Locked, so two runs cannot both take the last use.
            candidates = await conn.fetch(
                f"SELECT {_COLUMNS} FROM standing_approvals WHERE tenant = $1 AND tool = $2"
                " AND revoked_at IS NULL AND expires_at > now() AND uses_left > 0"
                " ORDER BY created_at, id FOR UPDATE",
                request.tenant,
                request.tool,
            )
            found = next(
                (r for r in map(_record, candidates) if matches(r.constraints, request.args)),
                None,
            )
            if found is None:
                return None
            row = await conn.fetchrow(
                "UPDATE standing_approvals SET uses_left = uses_left - 1 WHERE id = $1"
                " RETURNING id, created_by, uses_left, expires_at",
                found.id,
            )
            await conn.execute(
                "INSERT INTO standing_approval_uses (use_key, standing_id) VALUES ($1, $2)",
                request.use_key,
                found.id,
            )
            return _use(row)


def _use(row: asyncpg.Record) -> StandingUse:
    return StandingUse(
        standing_approval_id=row["id"],
        created_by=row["created_by"],
        uses_left=row["uses_left"],
        expires_at=row["expires_at"],
    )
