"""The spend ledger at the store (aios/stores/ledger/) on real PostgreSQL: parallel
reservations, caps per user and tenant, unpriced models, and reserve/settle/release/expire
balancing to the cent."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from aios.errors import AnswerLost, BudgetExceeded, ProviderRejected
from aios.models import RunCap
from aios.stores.ledger import LedgerStore, Spender

# A day of its own, far from the real clock (which expires reservations when usage is read).
NOW = datetime(2099, 1, 15, 12, 0, tzinfo=UTC)


def _tenant() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


async def test_ten_parallel_reservations_exactly_the_ones_that_fit_pass(
    pool: asyncpg.Pool,
) -> None:
    ledger = LedgerStore(pool)
    tenant = _tenant()
    run = RunCap(run_id=f"run-{tenant}", usd=0.035)
    spender = Spender(tenant=tenant, user_id="ada", run_id=run.run_id, runs=[run])

    async def one(i: int) -> bool:
        try:
            await ledger.reserve(f"{tenant}/{i}", spender, "openai:gpt-4o-mini", 0.01, 100, now=NOW)
        except BudgetExceeded as e:
            assert e.message.startswith(f"budget_exhausted: run {run.run_id}, 0.03")
            return False
        return True

    passed = await asyncio.gather(*(one(i) for i in range(10)))
    assert sum(passed) == 3
    assert await ledger.counter(f"run:{run.run_id}", "run") == (Decimal("0.03"), 300)
    # A repeated reservation (a retried activity's same key) is not charged again.
    first = passed.index(True)
    assert (
        await ledger.reserve(f"{tenant}/{first}", spender, "openai:gpt-4o-mini", 0.01, 100) is False
    )
    assert await ledger.unbalanced() == []


async def test_a_users_daily_cap_stops_them_and_not_a_colleague(pool: asyncpg.Pool) -> None:
    ledger = LedgerStore(pool)
    tenant = _tenant()
    await ledger.set_cap(
        tenant, "user", "ada", "day", usd=0.05, tokens=None, created_by="root", now=NOW
    )
    ada = Spender(tenant=tenant, user_id="ada", run_id="r1")
    bob = Spender(tenant=tenant, user_id="bob", run_id="r2")
    for i in range(4):
        await ledger.reserve(f"{tenant}/ada/{i}", ada, "openai:gpt-4o", 0.0125, 10, now=NOW)
        await ledger.settle(f"{tenant}/ada/{i}", 0.0125, 5, 5)
    with pytest.raises(BudgetExceeded) as refused:  # the fifth
        await ledger.reserve(f"{tenant}/ada/5", ada, "openai:gpt-4o", 0.0125, 10, now=NOW)
    assert refused.value.message.startswith(
        "budget_exhausted: user ada, day 2099-01-15, 0.0500 of 0.0500 USD"
    )
    assert await ledger.reserve(f"{tenant}/bob/1", bob, "openai:gpt-4o", 0.02, 10, now=NOW)
    # The next day is a new day.
    tomorrow = NOW + timedelta(days=1)
    assert await ledger.reserve(f"{tenant}/ada/6", ada, "openai:gpt-4o", 0.02, 10, now=tomorrow)
    # A monthly tenant cap in tokens applies to everyone in it.
    # Set mid-month, it counts the month's calls so far (no total was kept before: no cap).
    await ledger.set_cap(
        tenant, "tenant", tenant, "month", usd=None, tokens=60, created_by="root", now=NOW
    )
    with pytest.raises(BudgetExceeded, match=f"tenant {tenant}, month 2099-01, 60 of 60 tokens"):
        await ledger.reserve(f"{tenant}/bob/2", bob, "openai:gpt-4o", 0.01, 10, now=NOW)
    rows = await ledger.usage(
        tenant, "user", start=NOW - timedelta(days=1), end=NOW + timedelta(days=9)
    )
    assert {r.group: round(r.usd, 4) for r in rows} == {"ada": 0.05, "bob": 0.0}
    assert await ledger.unbalanced() == []


async def test_an_unpriced_model_is_refused_under_a_usd_cap(pool: asyncpg.Pool) -> None:
    ledger = LedgerStore(pool)
    tenant = _tenant()
    spender = Spender(tenant=tenant, user_id="ada", run_id="r1")
    # No USD cap: the call is recorded (tokens), never as free money under a cap.
    assert await ledger.reserve(f"{tenant}/1", spender, "openai:gpt-9", None, 50, now=NOW)
    await ledger.set_cap(tenant, "tenant", tenant, "month", usd=50, tokens=None, created_by="root")
    with pytest.raises(BudgetExceeded) as refused:
        await ledger.reserve(f"{tenant}/2", spender, "openai:gpt-9", None, 50, now=NOW)
    assert "model_unpriced: openai:gpt-9" in refused.value.message
    assert "AIOS_MODEL_PRICES" in refused.value.message


async def test_settle_release_and_expire_balance_to_the_cent(pool: asyncpg.Pool) -> None:
    ledger = LedgerStore(pool)
    tenant = _tenant()
    run = RunCap(run_id=f"run-{tenant}", usd=1.0)
    child = RunCap(run_id=f"run-{tenant}-s1")
    spender = Spender(tenant=tenant, user_id="ada", run_id=child.run_id, runs=[child, run])
    await ledger.reserve(f"{tenant}/a", spender, "openai:gpt-4o", 0.30, 1000, now=NOW)
    await ledger.reserve(f"{tenant}/b", spender, "openai:gpt-4o", 0.20, 500, now=NOW)
    await ledger.reserve(
        f"{tenant}/c", spender, "openai:gpt-4o", 0.25, 800, now=NOW, ttl=timedelta(seconds=-1)
    )
    await ledger.settle(f"{tenant}/a", 0.1234, 300, 200)
    await ledger.settle(f"{tenant}/a", 0.1234, 300, 200)  # twice: no change
    await ledger.release(f"{tenant}/b")
    await ledger.release(f"{tenant}/b")
    assert await ledger.expire(NOW) >= 1  # c's worker died: charged at its worst case
    scope = f"run:{run.run_id}"
    assert await ledger.counter(scope, "run") == (Decimal("0.373400"), 1300)
    # Uncapped scopes keep no running total (the usage report sums the entries).
    assert await ledger.counter(f"user:{tenant}/ada", "2099-01") == (Decimal(0), 0)
    [used] = await ledger.usage(tenant, "user", start=NOW, end=NOW + timedelta(days=1))
    assert round(used.usd, 4) == 0.3734
    # A late settle of the expired reservation corrects it to what the call cost.
    await ledger.settle(f"{tenant}/c", 0.01, 40, 10)
    assert await ledger.counter(scope, "run") == (Decimal("0.133400"), 550)
    assert await ledger.unbalanced() == []


async def test_a_failed_call_is_released_unless_the_provider_may_have_billed_it(
    pool: asyncpg.Pool,
) -> None:
    ledger = LedgerStore(pool)
    tenant = _tenant()
    run = RunCap(run_id=f"run-{tenant}", usd=1.0)
    spender = Spender(tenant=tenant, user_id="ada", run_id=run.run_id, runs=[run])
    outcomes = {
        "refused": ProviderRejected("openai answered 400: bad request"),
        "cancelled": asyncio.CancelledError(),
        "lost": AnswerLost("openai broke off its answer mid-stream"),
    }
    for name, error in outcomes.items():
        await ledger.reserve(f"{tenant}/{name}", spender, "openai:gpt-4o", 0.25, 800, now=NOW)
        await ledger.fail(f"{tenant}/{name}", error)
    rows = await pool.fetch(
        "SELECT key, status, usd FROM ledger_entries WHERE tenant = $1 ORDER BY key", tenant
    )
    assert {r["key"].split("/")[1]: (r["status"], r["usd"]) for r in rows} == {
        "cancelled": ("expired", Decimal("0.25")),
        "lost": ("expired", Decimal("0.25")),
        "refused": ("released", Decimal(0)),
    }
    assert await ledger.counter(f"run:{run.run_id}", "run") == (Decimal("0.50"), 1600)
    assert await ledger.unbalanced() == []
