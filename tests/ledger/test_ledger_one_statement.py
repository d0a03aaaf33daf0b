"""The spend ledger's one-statement path (decisions 0047, 0055): a call of a tenant with no cap
reserves in one statement, which also settles the calls before it; a repeat is still recognised,
and a tenant with a cap still takes the locking path (its counters move and are checked)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from aios import db
from aios.errors import BudgetExceeded
from aios.stores.ledger import LedgerStore, Spender
from aios.stores.ledger.deferred import SETTLE_DELAY_S

NOW = datetime(2099, 1, 16, 12, 0, tzinfo=UTC)  # a day of its own (see test_ledger_store.py)


async def test_uncapped_calls_are_exact_and_a_repeat_changes_nothing(
    pool: asyncpg.Pool,
) -> None:
    ledger = LedgerStore(pool)
    tenant = f"t{uuid.uuid4().hex[:8]}"
    spender = Spender(tenant=tenant, user_id="ada", run_id=f"run-{tenant}")
    key = f"{tenant}/a"
    assert await ledger.reserve(key, spender, "openai:gpt-4o", 0.30, 1000, now=NOW)
    assert not await ledger.reserve(key, spender, "openai:gpt-4o", 0.30, 1000, now=NOW)  # repeat
    await ledger.settle(key, 0.1234, 300, 200)
    await ledger.settle(key, 0.9, 1, 1)  # twice: no change
    [used] = await ledger.usage(tenant, "user", start=NOW, end=NOW + timedelta(days=1))
    assert (round(used.usd, 4), used.calls) == (0.1234, 1)
    # Unpriced and uncapped: reserved at no cost, settled at none.
    assert await ledger.reserve(f"{tenant}/b", spender, "openai:gpt-9", None, 50, now=NOW)
    await ledger.settle(f"{tenant}/b", 0.5, 10, 10)
    [used] = await ledger.usage(tenant, "user", start=NOW, end=NOW + timedelta(days=1))
    assert (round(used.usd, 4), used.calls) == (0.1234, 2)

    # A cap on anyone of the tenant: the locking path, counters checked and moved.
    await ledger.set_cap(
        tenant, "user", "ada", "day", usd=0.5, tokens=None, created_by="admin", now=NOW
    )
    await ledger.reserve(f"{tenant}/c", spender, "openai:gpt-4o", 0.30, 1000, now=NOW)
    with pytest.raises(BudgetExceeded):
        await ledger.reserve(f"{tenant}/d", spender, "openai:gpt-4o", 0.30, 1000, now=NOW)
    await ledger.settle(f"{tenant}/c", 0.05, 10, 10)
    day = f"user:{tenant}/ada"
    assert (await ledger.counter(day, "2099-01-16"))[0] == Decimal("0.173400")
    assert await ledger.unbalanced() == []


async def test_an_uncapped_call_costs_one_round_trip_and_leaves_no_session_state(
    pg_url: str,
) -> None:
    """A reservation is one statement, and it carries the settles waiting in the process (the
    calls before it): one round trip a call (decision 0055). A settle that no reservation
    carries is written on its own within SETTLE_DELAY_S. The ledger's connections go back to
    the pool without asyncpg's reset query (aios.db.statement_connection); a connection used
    for anything else is still reset."""
    pool = await db.connect(pg_url, min_size=1, max_size=1)
    sent: list[str] = []
    try:
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: sent.append(record.query))
        ledger = LedgerStore(pool)
        tenant = f"t{uuid.uuid4().hex[:8]}"
        spender = Spender(tenant=tenant, user_id="ada", run_id=f"run-{tenant}")
        # A connection's first use of the statement asks PostgreSQL about its array types once
        # (asyncpg's type introspection); every call after is the statement alone.
        await ledger.reserve(f"{tenant}/warm", spender, "openai:gpt-4o", 0.30, 1000, now=NOW)
        await ledger.settle(f"{tenant}/warm", 0.1, 300, 200)
        sent.clear()
        for n in range(3):
            await ledger.reserve(f"{tenant}/{n}", spender, "openai:gpt-4o", 0.30, 1000, now=NOW)
            await ledger.settle(f"{tenant}/{n}", 0.1, 300, 200)
        assert len(sent) == 3, sent  # three calls, three statements
        assert all(q.startswith("WITH settled AS (UPDATE ledger_entries") for q in sent), sent
        assert "INSERT INTO ledger_entries" in sent[0]

        # The last settle, carried by no reservation, is written on its own (and a read in this
        # process writes it at once: the usage report flushes first).
        sent.clear()
        await asyncio.sleep(SETTLE_DELAY_S * 4)
        assert len(sent) == 1 and sent[0].startswith("UPDATE ledger_entries"), sent
        [used] = await ledger.usage(tenant, "user", start=NOW, end=NOW + timedelta(days=1))
        assert (round(used.usd, 4), used.calls, used.reserved_usd) == (0.4, 4, 0)

        sent.clear()
        await pool.fetchval("SELECT 1")
        assert len(sent) == 2 and "RESET ALL" in sent[1], sent
    finally:
        await pool.close()


async def test_deferred_settles_are_written_before_the_pool_closes(pg_url: str) -> None:
    """A worker shutting down (aios.db.close) writes the settles still waiting: none is lost to
    expiry and charged at its worst case."""
    pool = await db.connect(pg_url, min_size=1, max_size=2)
    ledger = LedgerStore(pool)
    tenant = f"t{uuid.uuid4().hex[:8]}"
    spender = Spender(tenant=tenant, user_id="ada", run_id=f"run-{tenant}")
    await ledger.reserve(f"{tenant}/a", spender, "openai:gpt-4o", 0.30, 1000, now=NOW)
    await ledger.settle(f"{tenant}/a", 0.02, 30, 20)
    await db.close(pool)
    other = await db.connect(pg_url, min_size=1, max_size=1)
    try:
        row = await other.fetchrow(
            "SELECT status, usd FROM ledger_entries WHERE key = $1", f"{tenant}/a"
        )
        assert row is not None and (row["status"], row["usd"]) == ("settled", Decimal("0.02"))
    finally:
        await other.close()
