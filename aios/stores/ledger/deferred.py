"""Deferred settles: the settle of an uncapped reservation rides on the next reservation's
statement, so a model call of a tenant with no cap costs one PostgreSQL round trip, not two.

An uncapped reservation (its tenant has no cap, its run none: `Reservations._reserve_uncapped`)
moves no counter, so its settle changes only its own entry: nothing any cap check reads. Such a
settle is kept here, in the process, and written by the next reservation made through the same
pool (the uncapped statement carries the pending settles in a data-modifying CTE), or by a flush
at most `SETTLE_DELAY_S` later when no reservation comes, or before the pool closes
(`aios.db.before_close`). Readers of entries in this process (the usage report, the balance
check) flush first.

What it costs: an entry stays `reserved` at its worst case for up to `SETTLE_DELAY_S` after its
call returned. A worker that dies in that window leaves the reservation to expire, charged at its
worst case, as for a worker killed during the call: never short, never twice (decision 0055).
A capped reservation settles at once, as before: its counters hold cap room that other calls are
waiting for.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from aios import db

log = logging.getLogger(__name__)

# How long a settle waits for a reservation to carry it before it is written on its own.
SETTLE_DELAY_S = 0.05
# After a failed flush (PostgreSQL away), the settles wait this long before the next try.
RETRY_DELAY_S = 1.0
# Uncapped keys remembered per pool; a key whose call neither settled nor failed (its task was
# dropped) is forgotten oldest first beyond this, and then settles at once when it does.
MAX_REMEMBERED = 10_000

# The pending settles' entries settled in one statement: $1 keys, $2 USD, $3 and $4 tokens.
SETTLE_ENTRIES = (
    "UPDATE ledger_entries e SET status = 'settled',"
    " usd = CASE WHEN e.priced THEN s.usd ELSE 0 END, input_tokens = s.input_tokens,"
    " output_tokens = s.output_tokens, closed_at = now()"
    " FROM unnest($1::text[], $2::numeric[], $3::bigint[], $4::bigint[])"
    "  AS s(key, usd, input_tokens, output_tokens)"
    " WHERE e.key = s.key AND e.status IN ('reserved', 'expired') AND e.counters = '[]'"
)


@dataclass(frozen=True)
class Settle:
    key: str
    usd: Decimal
    input_tokens: int
    output_tokens: int


def columns(settles: list[Settle]) -> tuple[list[str], list[Decimal], list[int], list[int]]:
    """The settles as the four arrays SETTLE_ENTRIES takes."""
    return (
        [s.key for s in settles],
        [s.usd for s in settles],
        [s.input_tokens for s in settles],
        [s.output_tokens for s in settles],
    )


class DeferredSettles:
    """One pool's uncapped reservations and their settles waiting to be written."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._uncapped: dict[str, None] = {}  # insertion-ordered set
        self._pending: dict[str, Settle] = {}  # by key: a key settled twice keeps its first
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()

    def reserved_uncapped(self, key: str) -> None:
        self._uncapped[key] = None
        while len(self._uncapped) > MAX_REMEMBERED:
            del self._uncapped[next(iter(self._uncapped))]

    def defer(self, settle: Settle) -> bool:
        """Keep `settle` for the next statement when its reservation was uncapped; False when it
        must be written now."""
        if settle.key in self._pending:
            return True  # settled twice: the first stands, as in the statement
        if settle.key not in self._uncapped:
            return False
        del self._uncapped[settle.key]
        self._pending[settle.key] = settle
        self._schedule(SETTLE_DELAY_S)
        return True

    def forget(self, key: str) -> None:
        """The call failed: its reservation is released or charged, never settled."""
        self._uncapped.pop(key, None)

    def take(self) -> list[Settle]:
        """The pending settles, for a statement that writes them (`give_back` if it fails)."""
        taken, self._pending = list(self._pending.values()), {}
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return taken

    def give_back(self, settles: list[Settle], delay_s: float = SETTLE_DELAY_S) -> None:
        if settles:
            self._pending = {s.key: s for s in settles} | self._pending
            self._schedule(delay_s)

    async def flush(self) -> None:
        """Write the pending settles now, in one statement."""
        settles = self.take()
        if not settles:
            return
        try:
            async with db.statement_connection(self.pool) as conn:
                await conn.execute(SETTLE_ENTRIES, *columns(settles))
        except BaseException:
            self.give_back(settles, RETRY_DELAY_S)
            raise

    def _schedule(self, delay_s: float) -> None:
        if self._timer is None and self._pending:
            self._timer = asyncio.get_running_loop().call_later(delay_s, self._flush_later)

    def _flush_later(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self._flush_logged())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush_logged(self) -> None:
        if self.pool.is_closing():  # closed without aios.db.close: the entries expire instead
            dropped = self.take()
            log.warning("%d ledger settles dropped: their pool was closed", len(dropped))
            return
        try:
            await self.flush()
        except Exception as e:
            log.warning("deferred ledger settles not written yet, retrying: %s", e)


# Every pool's deferred settles in this process, by the pool's id (asyncpg's Pool takes no weak
# reference); an entry goes when its pool closes.
_BY_POOL: dict[int, DeferredSettles] = {}


def deferred_settles(pool: asyncpg.Pool) -> DeferredSettles:
    deferred = _BY_POOL.get(id(pool))
    if deferred is None:
        deferred = _BY_POOL[id(pool)] = DeferredSettles(pool)
        key = id(pool)

        async def flush_and_drop() -> None:
            try:
                await deferred.flush()
            finally:
                _BY_POOL.pop(key, None)

        db.before_close(pool, flush_and_drop)
    return deferred


async def flush_deferred_settles() -> None:
    """Write every open pool's pending settles in this process now (a report about to read
    entries, a test about to check them). A pool closed without `aios.db.close` is dropped."""
    for key, deferred in list(_BY_POOL.items()):
        if deferred.pool.is_closing():
            _BY_POOL.pop(key, None)
            continue
        await deferred.flush()
