"""A model call that ends without its answer, on real Temporal and PostgreSQL with the scripted
OpenAI server: when the provider may have billed it (its stream broke off, or its run was cancelled
while it waited), the ledger charges it at its worst case; when the provider refused it, the
reservation is given back. The ledger's counters still equal its entries to the micro-dollar."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.knowledge import LocalEmbedder
from aios.config import Settings
from aios.stores.ledger import LedgerStore
from aios.stores.ledger.deferred import flush_deferred_settles
from tests.conftest import Stack, running_stack
from tests.helpers import finish, start_plan
from tests.support.fake_openai import FakeOpenAI, ScriptedReply

MODEL = "openai:gpt-4o-mini"
# 30 USD per million prompt tokens, 5 per million answer tokens: a call's worst case (its prompt
# and max_tokens 1000) is over half a cent, its real cost (100 + 20 tokens) $0.0031.
PRICE = (30.0, 5.0)


def _llm_step(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "answer",
        "kind": "llm",
        "args": {"instruction": "Say what AIOS is.", "model": "fast", "max_tokens": 1000},
        "retry": {"max_attempts": 3, "initial_interval_s": 0.1, "max_interval_s": 0.5},
        **overrides,
    }


async def _entries(pool: asyncpg.Pool, run_id: str) -> list[asyncpg.Record]:
    await flush_deferred_settles()  # settles wait to be carried (decision 0055)
    entries: list[asyncpg.Record] = await pool.fetch(
        "SELECT key, status, usd, reserved_usd FROM ledger_entries WHERE root_run_id = $1"
        " ORDER BY created_at",
        run_id,
    )
    return entries


@pytest.fixture
async def stack(
    settings: Settings,
    pool: asyncpg.Pool,
    temporal_env: WorkflowEnvironment,
    embedder: LocalEmbedder,
    fake_openai: FakeOpenAI,
) -> AsyncIterator[Stack]:
    """The suite's stack with both tiers on a priced model of the scripted server."""
    priced = settings.model_copy(
        update={
            "model_fast": MODEL,
            "model_strong": MODEL,
            "openai_api_key": SecretStr("sk-test"),
            "openai_base_url": fake_openai.base_url,
            "model_prices": {MODEL: PRICE},
        }
    )
    async with running_stack(priced, pool, temporal_env, embedder) as stack:
        yield stack


async def test_a_stream_that_broke_off_is_charged_at_its_worst_case_and_the_retry_exactly(
    stack: Stack, pool: asyncpg.Pool, fake_openai: FakeOpenAI
) -> None:
    fake_openai.queue(
        ScriptedReply(content="one two three", cut_after_words=1),  # answered, then cut
        ScriptedReply(status=400, content="bad request"),  # refused: nothing to bill
    )
    handle = await start_plan(stack.client, stack.settings.task_queue, [_llm_step()])
    state = await finish(handle)
    assert state.status == "failed", state.error  # a 400 is not retried
    assert "400" in (state.error or "")
    cut, refused = await _entries(pool, handle.id)
    assert cut["status"] == "expired" and cut["usd"] == cut["reserved_usd"] > 0
    assert refused["status"] == "released"
    assert await LedgerStore(pool).unbalanced() == []

    fake_openai.queue(ScriptedReply(content="one two three", cut_after_words=1))
    handle = await start_plan(stack.client, stack.settings.task_queue, [_llm_step()])
    state = await finish(handle)
    assert state.status == "completed", state.error
    cut, answered = await _entries(pool, handle.id)
    assert cut["status"] == "expired" and cut["usd"] == cut["reserved_usd"]
    assert answered["status"] == "settled" and float(answered["usd"]) == 0.0031
    assert await LedgerStore(pool).unbalanced() == []


async def test_a_call_in_flight_when_its_run_is_cancelled_is_charged_at_its_worst_case(
    stack: Stack, pool: asyncpg.Pool, fake_openai: FakeOpenAI
) -> None:
    fake_openai.queue(ScriptedReply(content="too late", delay_s=30))
    handle = await start_plan(stack.client, stack.settings.task_queue, [_llm_step()])
    async with asyncio.timeout(20):
        while not fake_openai.requests:  # the request has reached the provider
            await asyncio.sleep(0.05)
    await handle.cancel()
    state = await asyncio.wait_for(finish(handle), 20)
    assert state.status == "cancelled", state.error
    async with asyncio.timeout(20):  # the cancelled activity closes its reservation
        while (entries := await _entries(pool, handle.id))[0]["status"] == "reserved":
            await asyncio.sleep(0.1)
    [lost] = entries
    assert lost["status"] == "expired" and lost["usd"] == lost["reserved_usd"] > 0
    assert await LedgerStore(pool).unbalanced() == []
