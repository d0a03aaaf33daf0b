"""The spend ledger: every model call reserves its worst-case cost before it starts, against every
scope it belongs to (its run and the runs above it, the user, the API key, the schedule and the
tenant, per day and per month), and is settled to what it really cost when it returns, or released
when it fails. docs/budgets.md has the whole story; decision record 0035 the why.

One transaction per reservation: the counter rows of every scope are locked (`SELECT ... FOR
UPDATE`, in one order so two reservations never deadlock), checked against their caps and raised
together, so ten parallel calls cannot all pass a check that only some of them fit. Counters hold
what is reserved plus what is spent; an entry per call (keyed by run, activity, attempt and call)
makes reserve, settle and release idempotent. A reservation whose call never reported back (a
worker killed in between) expires and stays charged at its worst case: never lost, never twice.
A call of a tenant with no cap at all (and no run cap) has nothing to lock or check: it reserves
in one statement (decision 0047), and its settle, which moves no counter, rides on the next
reservation's statement (`deferred`, decision 0055): one round trip a call instead of thirteen.

This package holds it in four modules: `scopes` (whom a call is charged to and the counters it
is in), `reservations` (reserve, settle, release, expire), `deferred` (uncapped settles carried
by the next statement) and, here, `LedgerStore`: the reservations, the caps an admin sets, and
the usage report.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from aios.db import transient_on_connection_loss
from aios.errors import NotFound
from aios.stores.ledger.reservations import Reservations
from aios.stores.ledger.scopes import (
    CAP_SCOPES,
    DEFAULT_TTL,
    GROUP_COLUMNS,
    MICRO,
    RUN_PERIOD,
    BudgetCap,
    CapPeriod,
    CapScope,
    GroupBy,
    Spender,
    UsageRow,
    to_usd,
)

__all__ = [
    "CAP_SCOPES",
    "DEFAULT_TTL",
    "GROUP_COLUMNS",
    "MICRO",
    "RUN_PERIOD",
    "BudgetCap",
    "CapPeriod",
    "CapScope",
    "GroupBy",
    "LedgerStore",
    "Spender",
    "UsageRow",
]


class LedgerStore(Reservations):
    """The spend ledger: reservations (`Reservations`), caps as data, and the usage report."""

    # --- checks ---------------------------------------------------------------------------------

    @transient_on_connection_loss
    async def unbalanced(self) -> list[dict[str, Any]]:
        """Counters that differ from the sum of their entries (none, unless something is wrong)."""
        await self.flush_settles()
        rows = await self._pool.fetch(
            "WITH charged AS ("
            "  SELECT c->>0 AS scope, c->>1 AS period,"
            "   sum(CASE status WHEN 'reserved' THEN reserved_usd WHEN 'released' THEN 0"
            "       ELSE usd END) AS usd,"
            "   sum(CASE status WHEN 'reserved' THEN reserved_tokens WHEN 'released' THEN 0"
            "       WHEN 'expired' THEN reserved_tokens ELSE input_tokens + output_tokens END)"
            "       AS tokens"
            "  FROM ledger_entries, jsonb_array_elements(counters) AS c GROUP BY 1, 2)"
            " SELECT k.scope, k.period, k.usd, k.tokens, coalesce(c.usd, 0) AS entries_usd,"
            "  coalesce(c.tokens, 0) AS entries_tokens"
            " FROM ledger_counters k LEFT JOIN charged c USING (scope, period)"
            " WHERE k.usd <> coalesce(c.usd, 0) OR k.tokens <> coalesce(c.tokens, 0)"
        )
        return [dict(r) for r in rows]

    @transient_on_connection_loss
    async def counter(self, scope: str, period: str) -> tuple[Decimal, int]:
        row = await self._pool.fetchrow(
            "SELECT usd, tokens FROM ledger_counters WHERE scope = $1 AND period = $2",
            scope,
            period,
        )
        return (row["usd"], row["tokens"]) if row else (Decimal(0), 0)

    # --- caps -----------------------------------------------------------------------------------

    @transient_on_connection_loss
    async def set_cap(
        self,
        tenant: str,
        scope: CapScope,
        subject: str,
        period: CapPeriod,
        *,
        usd: float | None,
        tokens: int | None,
        created_by: str,
        now: datetime | None = None,
    ) -> BudgetCap:
        """Set (or replace) the cap of one scope and period. Its running total for the current
        period starts from what the period's entries already hold (uncapped scopes keep none)."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "INSERT INTO budget_caps"
                " (id, tenant, scope, subject, period, usd, tokens, created_by)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (tenant, scope, subject, period) DO UPDATE SET usd = EXCLUDED.usd,"
                " tokens = EXCLUDED.tokens, created_by = EXCLUDED.created_by, created_at = now()"
                " RETURNING *",
                f"cap_{uuid.uuid4().hex[:12]}",
                tenant,
                scope,
                subject,
                period,
                None if usd is None else to_usd(usd),
                tokens,
                created_by,
            )
            await self._start_total(conn, tenant, scope, subject, period, now or datetime.now(UTC))
        return _cap(row)

    @staticmethod
    async def _start_total(
        conn: asyncpg.Connection,
        tenant: str,
        scope: CapScope,
        subject: str,
        period: CapPeriod,
        now: datetime,
    ) -> None:
        """The running total of a newly capped scope for the current period: the period's
        entries of that scope not yet counted in it are attached to it and added up, so a cap
        set mid-month counts the month's spend so far."""
        stamp = now.strftime("%Y-%m-%d" if period == "day" else "%Y-%m")
        counter = [f"{scope}:{tenant}/{subject}", stamp]
        await conn.execute(
            "INSERT INTO ledger_counters (scope, period) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            *counter,
        )
        await conn.execute(
            "SELECT 1 FROM ledger_counters WHERE scope = $1 AND period = $2 FOR UPDATE", *counter
        )
        # The column naming the subject is one of these constants, never input.
        column = {"tenant": "tenant", "user": "user_id", "key": "key_id", "schedule": "schedule_id"}
        added = await conn.fetchrow(
            "WITH attached AS ("
            "  UPDATE ledger_entries SET counters = counters || jsonb_build_array($3::jsonb)"
            f"  WHERE tenant = $1 AND {column[scope]} = $2 AND status <> 'released'"
            "   AND to_char(created_at AT TIME ZONE 'UTC', $4) = $5"
            "   AND NOT counters @> jsonb_build_array($3::jsonb)"
            "  RETURNING CASE status WHEN 'reserved' THEN reserved_usd ELSE usd END AS usd,"
            "   CASE WHEN status IN ('reserved', 'expired') THEN reserved_tokens"
            "    ELSE input_tokens + output_tokens END AS tokens)"
            " SELECT coalesce(sum(usd), 0) AS usd, coalesce(sum(tokens), 0) AS tokens"
            " FROM attached",
            tenant,
            subject,
            json.dumps(counter),
            "YYYY-MM-DD" if period == "day" else "YYYY-MM",
            stamp,
        )
        await LedgerStore._add(conn, [tuple(counter)], added["usd"], int(added["tokens"]))

    @transient_on_connection_loss
    async def caps(self, tenant: str) -> list[BudgetCap]:
        rows = await self._pool.fetch(
            "SELECT * FROM budget_caps WHERE tenant = $1 ORDER BY scope, subject, period", tenant
        )
        return [_cap(r) for r in rows]

    @transient_on_connection_loss
    async def delete_cap(self, tenant: str, cap_id: str) -> None:
        done = await self._pool.execute(
            "DELETE FROM budget_caps WHERE tenant = $1 AND id = $2", tenant, cap_id
        )
        if done.endswith(" 0"):
            raise NotFound(f"no budget cap {cap_id!r} in this tenant")

    # --- reports --------------------------------------------------------------------------------

    @transient_on_connection_loss
    async def usage(
        self,
        tenant: str,
        group_by: GroupBy,
        *,
        start: datetime,
        end: datetime,
        user_id: str | None = None,
    ) -> list[UsageRow]:
        """Spend per group from the ledger, calls made in [start, end); one user's alone when
        `user_id` is given. Reservations past their time are expired first (charged at their
        worst case), so a call whose worker died shows as spent, not as in flight; this process's
        deferred settles are written first (another process's are at most
        SETTLE_DELAY_S behind)."""
        await self.flush_settles()
        await self.expire()
        column = GROUP_COLUMNS[group_by]
        rows = await self._pool.fetch(
            f"SELECT {column} AS grp, count(*) FILTER (WHERE status <> 'released') AS calls,"
            " coalesce(sum(input_tokens), 0) AS input_tokens,"
            " coalesce(sum(output_tokens), 0) AS output_tokens,"
            " coalesce(sum(usd) FILTER (WHERE status IN ('settled', 'expired')), 0) AS usd,"
            " coalesce(sum(reserved_usd) FILTER (WHERE status = 'reserved'), 0) AS reserved"
            " FROM ledger_entries WHERE tenant = $1 AND created_at >= $2 AND created_at < $3"
            " AND ($4::text IS NULL OR user_id = $4) GROUP BY 1 ORDER BY usd DESC, 1",
            tenant,
            start,
            end,
            user_id,
        )
        return [
            UsageRow(
                group=r["grp"],
                calls=r["calls"],
                input_tokens=r["input_tokens"],
                output_tokens=r["output_tokens"],
                usd=float(r["usd"]),
                reserved_usd=float(r["reserved"]),
            )
            for r in rows
        ]


def _cap(row: asyncpg.Record) -> BudgetCap:
    return BudgetCap(
        id=row["id"],
        tenant=row["tenant"],
        scope=row["scope"],
        subject=row["subject"],
        period=row["period"],
        usd=None if row["usd"] is None else float(row["usd"]),
        tokens=row["tokens"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )
