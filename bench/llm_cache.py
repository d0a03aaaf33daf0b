"""The LLM response cache's effect on a repeated workload: cost and latency with and without it.

    .venv/bin/python bench/llm_cache.py [--prompts 10] [--repeats 5] [--latency-ms 200]

The same workload runs twice through the real model-call path (`ModelCaller`: the spend ledger's
reserve and settle in PostgreSQL, the provider client, and for the second variant the cache in
PostgreSQL), against the scripted OpenAI-protocol server answering each call after
`--latency-ms` (what a hosted model takes for a short answer): `--prompts` different temperature-0
requests, each asked `--repeats` times, in rounds (every prompt once, then again). Each variant
has its own tenant, so the cached variant starts cold: its first round is all misses.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.llm.base import LLMRequest, Message
from activities.llm.cache import ResponseCache
from activities.llm.caller import ModelCaller, SpendAccount
from activities.llm.router import ModelRouter
from aios import db
from aios.config import LlmConfig
from aios.stores.ledger import LedgerStore, Spender
from aios.stores.llm_cache import LlmCacheStore
from cli.orphans import EmbeddedPostgres
from tests.support.fake_openai import FakeOpenAI

MODEL = "openai:gpt-4.1-mini"


@dataclass
class Variant:
    name: str
    latencies: list[float] = field(default_factory=list)
    cost_usd: float = 0.0
    provider_calls: int = 0
    hits: int = 0
    wall_s: float = 0.0


async def run(
    variant: Variant,
    cache: ResponseCache,
    router: ModelRouter,
    ledger: LedgerStore,
    fake: FakeOpenAI,
    prompts: list[str],
    repeats: int,
) -> None:
    tenant = f"bench-{variant.name}-{uuid.uuid4().hex[:6]}"
    before = len(fake.requests)
    started = time.perf_counter()
    for round_ in range(repeats):
        for i, prompt in enumerate(prompts):
            spender = Spender(tenant=tenant, user_id="bench", run_id=f"run-{round_}-{i}")
            caller = ModelCaller(
                router,
                budget=None,
                attempt=1,
                max_attempts=1,
                account=SpendAccount(ledger, spender, f"{tenant}/{round_}/{i}"),
                cache=cache,
            )
            request = LLMRequest(
                model="",
                messages=[Message(role="user", content=prompt)],
                max_tokens=64,
                temperature=0,
            )
            t0 = time.perf_counter()
            outcome = await caller.call("fast", request)
            variant.latencies.append(time.perf_counter() - t0)
            variant.cost_usd += outcome.usage.cost_usd
            variant.hits += outcome.usage.cache_hits
    variant.wall_s = time.perf_counter() - started
    variant.provider_calls = len(fake.requests) - before


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, default=200)
    args = parser.parse_args()
    prompts = [
        f"[latency_ms={args.latency_ms}] Summarise maintenance note {i} in one sentence."
        for i in range(args.prompts)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        postgres = EmbeddedPostgres.start(Path(tmp) / "pg")
        fake = FakeOpenAI().start()
        try:
            pool = await db.connect(postgres.uri, max_size=4)
            router = ModelRouter(
                LlmConfig(
                    model_fast=MODEL,
                    model_strong=MODEL,
                    local_model_url=fake.base_url,
                    local_context_window=8192,
                    openai_api_key=SecretStr("sk-bench"),
                    openai_base_url=fake.base_url,
                )
            )
            ledger = LedgerStore(pool)
            variants = [
                (Variant("no cache"), ResponseCache(LlmCacheStore(pool), 0)),
                (Variant("cache"), ResponseCache(LlmCacheStore(pool), 3600)),
            ]
            for variant, cache in variants:
                await run(variant, cache, router, ledger, fake, prompts, args.repeats)
            await router.aclose()
            await pool.close()
        finally:
            fake.stop()
            postgres.stop()
    calls = args.prompts * args.repeats
    print(
        f"{calls} calls ({args.prompts} prompts x {args.repeats}), temperature 0, {MODEL} "
        f"priced at its list price, the scripted model answering after {args.latency_ms} ms\n"
    )
    print("| variant | provider calls | cache hits | cost USD | mean ms | p50 ms | wall s |")
    print("|---|---|---|---|---|---|---|")
    for variant, _ in variants:
        lat = [x * 1000 for x in variant.latencies]
        print(
            f"| {variant.name} | {variant.provider_calls} | {variant.hits} | "
            f"{variant.cost_usd:.6f} | {statistics.mean(lat):.1f} | "
            f"{statistics.median(lat):.1f} | {variant.wall_s:.2f} |"
        )
    off, on = variants[0][0], variants[1][0]
    hit_ms = [x * 1000 for x in on.latencies[args.prompts :]]
    print(
        f"\ncache / no cache: cost {on.cost_usd / off.cost_usd:.2f}x, "
        f"wall time {on.wall_s / off.wall_s:.2f}x; a hit took {statistics.median(hit_ms):.1f} ms "
        "(p50: lookup, hit record, no ledger reservation)"
    )


if __name__ == "__main__":
    asyncio.run(main())
