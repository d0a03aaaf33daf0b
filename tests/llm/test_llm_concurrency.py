"""AIOS_LLM_CONCURRENCY: calls to one provider in flight at once, per worker process."""

from __future__ import annotations

import asyncio

from activities.llm.router import ModelRouter
from aios.config import Settings


async def test_calls_to_a_limited_provider_wait_for_a_slot() -> None:
    settings = Settings(llm_concurrency={"openai": 2})
    router = ModelRouter(settings.llm_config())
    in_flight = peak = 0

    async def call(provider: str) -> None:
        nonlocal in_flight, peak
        async with router.slot(provider):
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.02)
            in_flight -= 1

    await asyncio.gather(*(call("openai") for _ in range(6)))
    assert peak == 2
    peak = 0
    await asyncio.gather(*(call("anthropic") for _ in range(6)))
    assert peak == 6, "providers without a limit are not held back"
