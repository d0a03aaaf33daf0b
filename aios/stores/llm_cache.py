"""The LLM response cache's SQL: answers kept per tenant and request key until they expire, and
one row per answer served from the cache (who was spared which cost), for the usage report.

The cache itself (what is cacheable, the key, the modes) is activities/llm/cache.py; this store
only keeps and finds rows. docs/quality.md and decision record 0038 say why it is built so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from aios.db import transient_on_connection_loss
from aios.stores.ledger import GROUP_COLUMNS, GroupBy, Spender


@dataclass(frozen=True)
class CachedAnswer:
    model: str  # provider:model that answered
    response: dict[str, Any]
    cost_usd: float
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class CacheUsage:
    group: str | None
    hits: int
    saved_usd: float


class LlmCacheStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def get(self, tenant: str, key: str, now: datetime | None = None) -> CachedAnswer | None:
        """The tenant's live answer under `key` (counting the hit), or None."""
        row = await self._pool.fetchrow(
            "UPDATE llm_cache SET hits = hits + 1 WHERE tenant = $1 AND key = $2"
            " AND expires_at > $3"
            " RETURNING model, response, cost_usd, input_tokens, output_tokens",
            tenant,
            key,
            now or datetime.now(UTC),
        )
        if row is None:
            return None
        return CachedAnswer(
            model=row["model"],
            response=json.loads(row["response"]),
            cost_usd=float(row["cost_usd"]),
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
        )

    @transient_on_connection_loss
    async def put(
        self,
        tenant: str,
        key: str,
        *,
        model: str,
        response: dict[str, Any],
        cost_usd: float,
        input_tokens: int,
        output_tokens: int,
        ttl: timedelta,
        now: datetime | None = None,
    ) -> None:
        """Keep an answer (a newer one under the same key replaces it and its expiry)."""
        at = now or datetime.now(UTC)
        await self._pool.execute(
            "INSERT INTO llm_cache (tenant, key, model, response, cost_usd, input_tokens,"
            " output_tokens, created_at, expires_at) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7,"
            " $8, $9) ON CONFLICT (tenant, key) DO UPDATE SET model = EXCLUDED.model,"
            " response = EXCLUDED.response, cost_usd = EXCLUDED.cost_usd,"
            " input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,"
            " created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at, hits = 0",
            tenant,
            key,
            model,
            json.dumps(response),
            Decimal(str(round(cost_usd, 6))),
            input_tokens,
            output_tokens,
            at,
            at + ttl,
        )

    @transient_on_connection_loss
    async def record_hit(
        self, spender: Spender, model: str, answer: CachedAnswer, now: datetime | None = None
    ) -> None:
        """An answer served from the cache: whose call it spared, and what it would have cost."""
        await self._pool.execute(
            "INSERT INTO llm_cache_hits (tenant, user_id, run_id, skill, schedule_id, key_id,"
            " model, saved_usd, input_tokens, output_tokens, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            spender.tenant,
            spender.user_id,
            spender.run_id,
            spender.skill,
            spender.schedule_id,
            spender.key_id,
            model,
            Decimal(str(round(answer.cost_usd, 6))),
            answer.input_tokens,
            answer.output_tokens,
            now or datetime.now(UTC),
        )

    @transient_on_connection_loss
    async def sweep(self, now: datetime | None = None) -> int:
        """Delete expired answers; how many."""
        status = await self._pool.execute(
            "DELETE FROM llm_cache WHERE expires_at <= $1", now or datetime.now(UTC)
        )
        return int(status.split()[-1])

    @transient_on_connection_loss
    async def usage(
        self,
        tenant: str,
        group_by: GroupBy,
        *,
        start: datetime,
        end: datetime,
        user_id: str | None = None,
    ) -> dict[str | None, CacheUsage]:
        """Answers served from the cache per group in [start, end), as the ledger's usage report
        groups its calls."""
        column = GROUP_COLUMNS[group_by]  # one of the constants, never input
        rows = await self._pool.fetch(
            f"SELECT {column} AS grp, count(*) AS hits, coalesce(sum(saved_usd), 0) AS saved"
            " FROM llm_cache_hits WHERE tenant = $1 AND created_at >= $2 AND created_at < $3"
            " AND ($4::text IS NULL OR user_id = $4) GROUP BY 1",
            tenant,
            start,
            end,
            user_id,
        )
        return {
            r["grp"]: CacheUsage(group=r["grp"], hits=r["hits"], saved_usd=float(r["saved"]))
            for r in rows
        }
