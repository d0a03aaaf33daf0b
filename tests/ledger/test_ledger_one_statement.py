"""The spend ledger's one-statement path (decision 0047): a call of a tenant with no cap reserves
and settles in one statement each; a repeat is still recognised, and a tenant with a cap still
takes the locking path (its counters move and are checked)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from aios import db
from aios.errors import BudgetExceeded
from aios.stores.ledger import LedgerStore, Spender

NOW = datetime(2099, 1, 16, 12, 0, tzinfo=UTC)  # a day of its own (see test_ledger_store.py)


async def test_uncapped_calls_are_one_statement_each_way_and_still_exact(
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


async def test_an_uncapped_call_costs_two_round_trips_and_leaves_no_session_state(
    pg_url: str,
) -> None:
    """Reserve and settle are one statement each, and their connections go back to the pool
    without asyncpg's reset query (aios.db.statement_connection): two round trips a call, where
    four were. A connection used for anything else is still reset."""
    pool = await db.connect(pg_url, min_size=1, max_size=1)
    sent: list[str] = []
    try:
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: sent.append(record.query))
        ledger = LedgerStore(pool)
        tenant = f"t{uuid.uuid4().hex[:8]}"
        spender = Spender(tenant=tenant, user_id="ada", run_id=f"run-{tenant}")
        sent.clear()
        await ledger.reserve(f"{tenant}/a", spender, "openai:gpt-4o", 0.30, 1000, now=NOW)
        await ledger.settle(f"{tenant}/a", 0.1234, 300, 200)
        assert len(sent) == 2, sent
        assert sent[0].startswith("INSERT INTO ledger_entries") and "UPDATE" in sent[1]

        sent.clear()
        await pool.fetchval("SELECT 1")
        assert len(sent) == 2 and "RESET ALL" in sent[1], sent
    finally:
        await pool.close()
