"""The spend ledger across a worker killed with SIGKILL between reserve and settle (issue 24): a
worker process on the session's Temporal and PostgreSQL, the scripted model holding its first
answer so that the kill lands while the call is in flight, and a second worker finishing the
run. Afterwards the ledger balances to the micro-dollar: one entry per request the model
received, the abandoned one charged at its worst case at once (not 30 minutes later), the others
at what they cost, every capped counter equal to the sum of its entries, nothing still reserved.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from aios.config import Settings
from aios.models import AgentRunInput
from aios.plan import Plan
from aios.stores.ledger import LedgerStore
from tests.conftest import ARTIFACT_THRESHOLD, run_id
from tests.helpers import finish
from tests.reliability.conftest import StoppableStack
from tests.support.fake_openai import FakeOpenAI, ScriptedReply
from tests.support.processes import Process
from workflows.agent_run import AgentRunWorkflow

MODEL = "openai:gpt-4o-mini"
PRICE = (30.0, 5.0)  # USD per million tokens in, out
# What the scripted model reports for every call: 100 prompt and 20 answer tokens.
CALL_USD = (Decimal(100) * Decimal(PRICE[0]) + Decimal(20) * Decimal(PRICE[1])) / 1_000_000
TENANT = "ledger-kill"


def _worker(
    name: str, tmp_path: Path, settings: Settings, temporal: str, pg_url: str, model_url: str
) -> Process:
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "PYTHONUNBUFFERED": "1",
        "AIOS_ENVIRONMENT": "test",
        "AIOS_DATA_DIR": str(tmp_path / name),
        "AIOS_DATABASE_URL": pg_url,
        "AIOS_TEMPORAL_ADDRESS": temporal,
        "AIOS_TASK_QUEUE": settings.task_queue,
        "AIOS_MODEL_FAST": MODEL,
        "AIOS_MODEL_STRONG": MODEL,
        "AIOS_MODEL_PRICES": json.dumps({MODEL: list(PRICE)}),
        "OPENAI_BASE_URL": model_url,
        "OPENAI_API_KEY": "sk-scripted",
        "AIOS_ARTIFACT_THRESHOLD_BYTES": str(ARTIFACT_THRESHOLD),
        "AIOS_LLM_CACHE_TTL_S": "0",
        "AIOS_WORKER_SHUTDOWN_S": "1",
    }
    return Process(
        name,
        [sys.executable, "-m", "workers.main"],
        env,
        tmp_path / f"{name}.log",
        ready_line="worker polling",
    )


async def _until(
    predicate: Callable[[], Awaitable[str | None]], timeout_s: float, what: str
) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def settings(settings: Settings, fake_openai: FakeOpenAI) -> Settings:
    """The deployment's settings: the scripted model as a priced OpenAI model."""
    return settings.model_copy(
        update={
            "model_fast": MODEL,
            "model_strong": MODEL,
            "openai_api_key": SecretStr("sk-scripted"),
            "openai_base_url": fake_openai.base_url,
            "model_prices": {MODEL: PRICE},
        }
    )


async def test_a_worker_killed_between_reserve_and_settle_leaves_the_ledger_balanced(
    settings: Settings,
    tmp_path: Path,
    pg_url: str,
    pool: asyncpg.Pool,
    temporal_env: WorkflowEnvironment,
    fake_openai: FakeOpenAI,
    stoppable: StoppableStack,
) -> None:
    ledger = LedgerStore(pool)
    await ledger.set_cap(TENANT, "user", "ada", "day", usd=100, tokens=None, created_by="test")
    # The first model call is held until after its worker is dead; the retry is answered.
    fake_openai.queue(ScriptedReply(content="Held.", delay_s=30))
    temporal = temporal_env.client.service_client.config.target_host
    doomed = _worker("worker", tmp_path, settings, temporal, pg_url, fake_openai.base_url)
    try:
        await asyncio.to_thread(doomed.start, 120)
        handle = await temporal_env.client.start_workflow(
            AgentRunWorkflow.run,
            AgentRunInput(
                goal="say hello",
                tenant=TENANT,
                user_id="ada",
                plan=Plan.model_validate(
                    {
                        "steps": [
                            {
                                "id": "say",
                                "kind": "llm",
                                "args": {"instruction": "Say hello.", "max_tokens": 1000},
                                "heartbeat_timeout_s": 2,
                                "retry": {"max_attempts": 5, "initial_interval_s": 0.2},
                            }
                        ]
                    }
                ),
                budget_usd=1.0,
            ),
            id=run_id(),
            task_queue=settings.task_queue,
        )

        async def held() -> str | None:
            if not fake_openai.requests:
                return None
            key: str | None = await pool.fetchval(
                "SELECT key FROM ledger_entries WHERE run_id = $1 AND status = 'reserved'",
                handle.id,
            )
            return key

        held_key = await _until(held, 60, "the first model call to be reserved and in flight")
        # A second worker (in this process) takes over; the one holding the call dies with it.
        await stoppable.start()
        doomed.kill()
        state = await asyncio.wait_for(finish(handle), 120)
    finally:
        doomed.stop(timeout_s=5)

    assert state.status == "completed", state.error
    entries = await pool.fetch(
        "SELECT * FROM ledger_entries WHERE run_id = $1 ORDER BY created_at", handle.id
    )
    by_key = {e["key"]: e for e in entries}
    # One entry per request the model received: no call uncharged, none charged twice.
    assert len(entries) == len(fake_openai.requests)
    abandoned = by_key[held_key]
    assert abandoned["status"] == "expired", "the retry reconciled the abandoned reservation"
    assert abandoned["usd"] == abandoned["reserved_usd"] > CALL_USD, "at its worst case"
    assert abandoned["expires_at"] > abandoned["closed_at"], "at once, not at its expiry"
    # The attempt that replaced it: same activity, the next attempt, settled to the cent.
    activity_key, attempt, _call = held_key.rsplit("/", 2)
    retried = [k for k in by_key if k.startswith(f"{activity_key}/") and k != held_key]
    assert retried and all(int(k.rsplit("/", 2)[1]) > int(attempt) for k in retried)
    others = [e for e in entries if e["key"] != held_key]
    assert all(e["status"] == "settled" for e in others)
    assert all(e["usd"] == CALL_USD for e in others)
    assert all((e["input_tokens"], e["output_tokens"]) == (100, 20) for e in others)
    # The run reports what its answered calls cost; the ledger adds the abandoned worst case.
    assert Decimal(str(state.usage.cost_usd)).quantize(CALL_USD) == CALL_USD * len(others)
    total = sum((e["usd"] for e in entries), Decimal(0))
    assert total == abandoned["reserved_usd"] + CALL_USD * len(others)
    tokens = abandoned["reserved_tokens"] + 120 * len(others)
    # Every capped counter the calls went into holds exactly the sum of its entries.
    day = abandoned["created_at"].strftime("%Y-%m-%d")
    assert await ledger.counter(f"run:{handle.id}", "run") == (total, tokens)
    assert await ledger.counter(f"user:{TENANT}/ada", day) == (total, tokens)
    assert not [
        row
        for row in await ledger.unbalanced()
        if row["scope"] in {f"run:{handle.id}", f"user:{TENANT}/ada"}
    ]
    assert not await pool.fetchval(
        "SELECT count(*) FROM ledger_entries WHERE run_id = $1 AND status = 'reserved'", handle.id
    )
