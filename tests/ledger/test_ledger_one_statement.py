"""The spend ledger's one-statement path (decision 0047): a call of a tenant with no cap reserves
and settles in one statement each; a repeat is still recognised, and a tenant with a cap still
takes the locking path (its counters move and are checked)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

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
