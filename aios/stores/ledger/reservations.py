"""Reservations: a model call's worst case reserved before it starts (`reserve`), settled to what
it cost when it returns (`settle`), released or charged at its worst case when it fails (`fail`,
`release`), and expired when its worker never reported back (`expire`, `abandon_earlier_attempts`).

How they stay right under parallel calls and lost workers (one locking transaction per capped
reservation, one statement for an uncapped one, an idempotent entry per call) is told in the
package's docstring (aios/stores/ledger/__init__.py). `LedgerStore` there is `Reservations` with
the caps an admin sets and the usage report.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from aios.db import statement_connection, transient_on_connection_loss
from aios.errors import AnswerLost, BudgetExceeded
from aios.stores.ledger.deferred import (
    SETTLE_ENTRIES,
    Settle,
    columns,
    deferred_settles,
    flush_deferred_settles,
)
from aios.stores.ledger.scopes import DEFAULT_TTL, Spender, counters_of, to_usd

# A reservation whose call's real usage will never be known is charged at its worst case.
_CHARGE_WORST_CASE = (
    "UPDATE ledger_entries SET status = 'expired', usd = reserved_usd, closed_at = now()"
)
# The uncapped reservation's statement writes the deferred settles first ($1-$4), in a CTE that
# PostgreSQL runs to completion though the INSERT does not read it.
_CARRY_SETTLES = "WITH settled AS (" + SETTLE_ENTRIES + " RETURNING 1) "
# Both ways a reservation is written (the capped path's checked INSERT and the uncapped path's
# one statement) fill the same columns, from _entry_values, the counters it moved (none on the
# uncapped path), created_at and expires_at.
_INSERT_ENTRY = (
    "INSERT INTO ledger_entries (key, tenant, user_id, run_id, root_run_id, skill, schedule_id,"
    " key_id, model, priced, status, reserved_usd, reserved_tokens, counters, created_at,"
    " expires_at)"
)


@dataclass(frozen=True)
class _Limit:
    """One capped counter: who it is, and its caps."""

    label: str  # "tenant acme, month 2026-12"
    usd: Decimal | None
    tokens: int | None


def _shown(amount: Decimal, cap: Decimal) -> str:
    places = 2 if cap >= 1 else 4
    return f"{amount:.{places}f} of {cap:.{places}f}"


def _entry_values(
    key: str, spender: Spender, model: str, priced: bool, amount: Decimal, tokens: int
) -> tuple[Any, ...]:
    """A reservation's values for _INSERT_ENTRY up to its reserved tokens (status, between
    priced and reserved_usd, is always 'reserved')."""
    return (
        key,
        spender.tenant,
        spender.user_id,
        spender.run_id,
        spender.root_run_id,
        spender.skill,
        spender.schedule_id,
        spender.key_id,
        model,
        priced,
        amount,
        tokens,
    )


class Reservations:
    """The ledger's reservations (the base of `LedgerStore`, which adds caps and reports)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def reserve(
        self,
        key: str,
        spender: Spender,
        model: str,
        usd: float | Decimal | None,
        tokens: int,
        *,
        ttl: timedelta = DEFAULT_TTL,
        now: datetime | None = None,
    ) -> bool:
        """Reserve a call's worst case (`usd` None: the model has no price) against every scope
        of `spender`, or raise BudgetExceeded naming the first cap it would cross. True when
        reserved now, False when `key` was reserved before (a repeat changes nothing)."""
        now = now or datetime.now(UTC)
        counters = counters_of(spender, now)
        keys = sorted(counters)
        amount = Decimal(0) if usd is None else to_usd(usd)
        run_capped = any(run.usd is not None or run.tokens is not None for run in spender.runs)
        if not run_capped and await self._reserve_uncapped(
            key, spender, model, usd is not None, amount, tokens, now, ttl
        ):
            return True
        async with self._pool.acquire() as conn, conn.transaction():
            if await conn.fetchval("SELECT 1 FROM ledger_entries WHERE key = $1", key):
                return False
            limits = await self._limits(conn, spender, counters, now)
            if usd is None:
                priced = [label for label, lim in limits.items() if lim.usd is not None]
                if priced:
                    raise BudgetExceeded(
                        f"model_unpriced: {model} has no price and {priced[0].split(',')[0]} has "
                        "a USD cap; add its price to AIOS_MODEL_PRICES "
                        '(JSON {"provider:model": [input, output]} USD per million tokens)'
                    )
            # Only the scopes a cap applies to keep a running total (the usage report sums the
            # entries): a call of an uncapped tenant locks no shared row, so calls do not queue
            # behind one another (one counter row per tenant and day would serialise them all,
            # ~10x fewer runs a second in bench/overhead.py). A cap set later starts its total
            # from the period's entries (set_cap).
            keys = [k for k in keys if counters[k] in limits]
            rows = await self._locked_counters(conn, keys) if keys else []
            for row in rows:
                label = counters[(row["scope"], row["period"])]
                limit = limits.get(label)
                if limit is None:
                    continue
                if limit.usd is not None and row["usd"] + amount > limit.usd:
                    raise BudgetExceeded(
                        f"budget_exhausted: {label}, {_shown(row['usd'], limit.usd)} USD "
                        f"(the next call to {model} could cost {amount:.4f})"
                    )
                if limit.tokens is not None and row["tokens"] + tokens > limit.tokens:
                    raise BudgetExceeded(
                        f"budget_exhausted: {label}, {row['tokens']} of {limit.tokens} tokens "
                        f"(the next call to {model} could use {tokens})"
                    )
            if keys:  # an uncapped call touches no counter: three round trips fewer
                await self._add(conn, keys, amount, tokens)
            await conn.execute(
                _INSERT_ENTRY + " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'reserved',"
                " $11, $12, $13, $14, $15)",
                *_entry_values(key, spender, model, usd is not None, amount, tokens),
                json.dumps(keys),
                now,
                now + ttl,
            )
            return True

    @transient_on_connection_loss
    async def settle(
        self, key: str, usd: float | Decimal, input_tokens: int, output_tokens: int
    ) -> None:
        """The call returned: its counters move from the worst case to what it cost. Settling an
        expired reservation corrects it; settling twice changes nothing. An uncapped
        reservation's settle moves no counter: it waits to ride on the next reservation's
        statement (aios/stores/ledger/deferred.py)."""
        settle = Settle(key, to_usd(usd), input_tokens, output_tokens)
        if deferred_settles(self._pool).defer(settle):
            return
        # One statement, atomic on its own: the entry is settled (its row locked by the UPDATE, as
        # a SELECT ... FOR UPDATE locked it) and its counters, if any, move from the worst case to
        # the cost. One round trip instead of five (begin, lock, update counters, update, commit).
        async with statement_connection(self._pool) as conn:
            await conn.execute(
                "WITH entry AS ("
                " UPDATE ledger_entries SET status = 'settled',"
                "  usd = CASE WHEN priced THEN $2::numeric ELSE 0 END, input_tokens = $3,"
                "  output_tokens = $4, closed_at = now()"
                " WHERE key = $1 AND status IN ('reserved', 'expired')"
                " RETURNING usd - reserved_usd AS usd,"
                "  $3::bigint + $4::bigint - reserved_tokens AS tokens, counters)"
                " UPDATE ledger_counters c"
                " SET usd = c.usd + entry.usd, tokens = c.tokens + entry.tokens"
                " FROM entry, jsonb_array_elements(entry.counters) AS k"
                " WHERE c.scope = k->>0 AND c.period = k->>1",
                key,
                to_usd(usd),
                input_tokens,
                output_tokens,
            )

    async def flush_settles(self) -> None:
        """Write the settles this process deferred (every pool's) before reading entries."""
        await flush_deferred_settles()

    async def _reserve_uncapped(
        self,
        key: str,
        spender: Spender,
        model: str,
        priced: bool,
        amount: Decimal,
        tokens: int,
        now: datetime,
        ttl: timedelta,
    ) -> bool:
        """The common case in one statement, no transaction: a call of a tenant with no cap at
        all (and no run cap, which the caller checked) locks and checks nothing and moves no
        counter, so its entry is the whole reservation. False when the tenant has a cap or `key`
        was reserved before: the full path decides then. The statement also writes the settles
        waiting in this process (aios/stores/ledger/deferred.py): one round trip a call."""
        deferred = deferred_settles(self._pool)
        settles = deferred.take()
        try:
            async with statement_connection(self._pool) as conn:
                inserted = await conn.fetchval(
                    _CARRY_SETTLES
                    + _INSERT_ENTRY
                    + " SELECT $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'reserved', $15, $16,"
                    " '[]', $17, $18"
                    " WHERE NOT EXISTS (SELECT 1 FROM budget_caps WHERE tenant = $6)"
                    " ON CONFLICT (key) DO NOTHING RETURNING true",
                    *columns(settles),
                    *_entry_values(key, spender, model, priced, amount, tokens),
                    now,
                    now + ttl,
                )
        except BaseException:
            deferred.give_back(settles)
            raise
        if inserted:
            deferred.reserved_uncapped(key)
        return bool(inserted)

    async def fail(self, key: str, error: BaseException) -> None:
        """A reserved call ended without its answer (`error`). Released when it cannot have cost
        anything (refused by the provider, which was never reached or said no); charged at its
        worst case when it may have: cancelled while it waited (its run failed or was cancelled,
        its activity timed out) or its answer lost on the way (AnswerLost). The provider bills a
        request whose client went away, and its real usage is not known: the worst case is the
        only amount that is never short (as for a dead attempt, abandon_earlier_attempts)."""
        deferred_settles(self._pool).forget(key)
        if isinstance(error, asyncio.CancelledError | AnswerLost):
            await self._charge_worst_case(key)
        else:
            await self.release(key)

    @transient_on_connection_loss
    async def _charge_worst_case(self, key: str) -> None:
        """Counters already hold the worst case: only the entry moves. A settle that comes after
        all still corrects it to the real usage."""
        await self._pool.execute(
            _CHARGE_WORST_CASE + " WHERE key = $1 AND status = 'reserved'", key
        )

    @transient_on_connection_loss
    async def release(self, key: str) -> None:
        """The call failed before it cost anything: its reservation is given back."""
        async with self._pool.acquire() as conn, conn.transaction():
            entry = await conn.fetchrow(
                "SELECT * FROM ledger_entries WHERE key = $1 FOR UPDATE", key
            )
            if entry is None or entry["status"] != "reserved":
                return
            keys = [tuple(k) for k in json.loads(entry["counters"])]
            if keys:
                await self._add(conn, keys, -entry["reserved_usd"], -entry["reserved_tokens"])
            await conn.execute(
                "UPDATE ledger_entries SET status = 'released', closed_at = now() WHERE key = $1",
                key,
            )

    @transient_on_connection_loss
    async def abandon_earlier_attempts(self, run_id: str, activity_key: str, attempt: int) -> int:
        """A retried activity's earlier attempts that never reported back (their worker died
        between reserve and settle, or lost its heartbeat): their open reservations expire now,
        charged at their worst case, instead of holding cap room for DEFAULT_TTL. The call may
        have reached the provider and been billed; its real usage went down with the worker, so
        the worst case is the only amount that is never short. Counters already hold it, so
        none moves; a late settle from a worker that was not dead after all still corrects it.
        Keys are `<activity_key>/<attempt>/<call>`; how many were closed."""
        prefix = f"{activity_key}/"
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT key FROM ledger_entries WHERE status = 'reserved' AND run_id = $1"
                " AND starts_with(key, $2) FOR UPDATE",
                run_id,
                prefix,
            )
            earlier = [
                r["key"]
                for r in rows
                if (n := r["key"][len(prefix) :].split("/", 1)[0]).isdigit() and int(n) < attempt
            ]
            if not earlier:
                return 0
            await conn.execute(
                _CHARGE_WORST_CASE + " WHERE key = ANY($1::text[]) AND status = 'reserved'", earlier
            )
            return len(earlier)

    @transient_on_connection_loss
    async def expire(self, now: datetime | None = None) -> int:
        """Reservations past their time (their worker died between reserve and settle) are
        charged at their worst case: the call may have been made. Counters already hold it."""
        result = await self._pool.execute(
            _CHARGE_WORST_CASE + " WHERE status = 'reserved' AND expires_at < $1",
            now or datetime.now(UTC),
        )
        return int(result.split()[-1])

    async def _limits(
        self,
        conn: asyncpg.Connection,
        spender: Spender,
        counters: dict[tuple[str, str], str],
        now: datetime,
    ) -> dict[str, _Limit]:
        """The caps that apply to a call of `spender`, by the counter label they cap."""
        limits: dict[str, _Limit] = {}
        for run in spender.runs:
            if run.usd is not None or run.tokens is not None:
                limits[f"run {run.run_id}"] = _Limit(
                    f"run {run.run_id}",
                    None if run.usd is None else to_usd(run.usd),
                    run.tokens,
                )
        subjects = {
            "tenant": spender.tenant,
            "user": spender.user_id,
            "key": spender.key_id,
            "schedule": spender.schedule_id,
        }
        rows = await conn.fetch(
            "SELECT scope, subject, period, usd, tokens FROM budget_caps WHERE tenant = $1",
            spender.tenant,
        )
        stamp = {"day": now.strftime("%Y-%m-%d"), "month": now.strftime("%Y-%m")}
        for row in rows:
            if subjects.get(row["scope"]) != row["subject"]:
                continue
            name = f"{row['scope']}:{spender.tenant}/{row['subject']}"
            label = counters[(name, stamp[row["period"]])]
            limits[label] = _Limit(label, row["usd"], row["tokens"])
        return limits

    @staticmethod
    async def _locked_counters(
        conn: asyncpg.Connection, keys: list[tuple[str, str]]
    ) -> list[asyncpg.Record]:
        """The counter rows of `keys`, made if new, locked in one order (no deadlocks)."""
        await conn.execute(
            "INSERT INTO ledger_counters (scope, period)"
            " SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
        rows: list[asyncpg.Record] = await conn.fetch(
            "SELECT scope, period, usd, tokens FROM ledger_counters"
            " WHERE (scope, period) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
            " ORDER BY scope, period FOR UPDATE",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
        return rows

    @staticmethod
    async def _add(
        conn: asyncpg.Connection,
        keys: list[tuple[str, str]] | list[tuple[Any, ...]],
        usd: Decimal,
        tokens: int,
    ) -> None:
        await conn.execute(
            "UPDATE ledger_counters SET usd = usd + $3, tokens = tokens + $4"
            " WHERE (scope, period) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            [k[0] for k in keys],
            [k[1] for k in keys],
            usd,
            tokens,
        )
