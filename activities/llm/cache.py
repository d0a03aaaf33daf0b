"""The LLM response cache: an identical model call answered from PostgreSQL instead of the provider.

An activity-side concern, invisible to workflow code: `ModelCaller` (activities/llm/caller.py)
asks the cache before it reserves anything in the spend ledger, so a hit reserves and costs
nothing; the hit is counted on the call's `Usage` (`cache_hits`, `saved_usd`, which the run's
steps and trace carry), in `/metrics` and in the usage report.

What is cached, per run's `cache` mode:
- `auto` (the default): calls at temperature 0 only, whose answer is meant to be the same;
- `force`: every call, whatever its temperature (an evaluation that wants repeatable answers);
- `off`: none (the run bypasses the cache: it neither reads nor writes it).

The key is the sha256 of the canonical JSON of everything that shapes the answer: the
`provider:model` asked, every message (roles, text, tool calls and results), the tools offered,
the output schema and its strictness, max_tokens, temperature and frequency penalty. It is looked
up within the caller's tenant only: another tenant's identical call is a miss. Answers expire
after AIOS_LLM_CACHE_TTL_S (0 turns the cache off for the deployment).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from activities.llm.base import LLMRequest, LLMResponse
from aios import telemetry
from aios.models import CacheMode
from aios.stores.ledger import Spender
from aios.stores.llm_cache import CachedAnswer, LlmCacheStore

log = logging.getLogger("aios.activities")

# Expired answers are deleted by the first store after a worker starts, then at most this often.
SWEEP_EVERY_S = 3600.0


def cache_key(spec: str, request: LLMRequest) -> str:
    """The request's key: sha256 over the model and everything in the request that shapes the
    answer (the `model` field is empty in requests; `spec` names the model asked)."""
    shaped = request.model_dump(mode="json", exclude={"model"})
    canonical = json.dumps(
        {"model": spec, **shaped}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def cacheable(mode: CacheMode, request: LLMRequest) -> bool:
    if mode == "off":
        return False
    return mode == "force" or request.temperature == 0


@dataclass
class CacheHit:
    response: LLMResponse
    answer: CachedAnswer


class ResponseCache:
    """The cache of one worker process (shared by its activities)."""

    def __init__(self, store: LlmCacheStore, ttl_s: float) -> None:
        self._store = store
        self._ttl = timedelta(seconds=ttl_s)
        self.enabled = ttl_s > 0
        self._next_sweep = 0.0

    async def lookup(self, spender: Spender, spec: str, key: str) -> CacheHit | None:
        """The answer kept for `key` in the spender's tenant (the hit recorded for the usage
        report and counted in /metrics), or None (a miss, counted too)."""
        answer = await self._store.get(spender.tenant, key)
        if answer is None:
            telemetry.LLM_CACHE.labels(spec, spender.tenant, "miss").inc()
            return None
        await self._store.record_hit(spender, answer.model, answer)
        telemetry.LLM_CACHE.labels(spec, spender.tenant, "hit").inc()
        telemetry.LLM_CACHE_SAVED.labels(spec, spender.tenant).inc(answer.cost_usd)
        response = LLMResponse.model_validate(answer.response)
        return CacheHit(response, answer)

    async def keep(self, tenant: str, spec: str, key: str, response: LLMResponse) -> None:
        """Keep a provider's answer for later identical calls of the tenant."""
        await self._store.put(
            tenant,
            key,
            model=spec,
            response=response.model_dump(mode="json"),
            cost_usd=response.usage.cost_usd,
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
            ttl=self._ttl,
        )
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_EVERY_S
            removed = await self._store.sweep()
            if removed:
                log.info("removed %d expired LLM cache entries", removed)
