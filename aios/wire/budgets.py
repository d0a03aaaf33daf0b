"""Budgets and usage on the wire: spend caps (`/v1/budgets`) and what model calls cost
(`GET /v1/usage`), both from the spend ledger (`aios.stores.ledger`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aios.wire.base import SAFE_VALUE


class SetBudget(BaseModel):
    """A cap on what one scope of the caller's tenant may spend per day or month, in USD and/or
    tokens (`POST /v1/budgets`; setting it again replaces it)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"scope": "tenant", "period": "month", "usd": 50},
                {"scope": "user", "subject": "ada", "period": "day", "usd": 5},
            ]
        },
    )

    scope: Literal["tenant", "user", "key", "schedule"]
    # Whose cap: a user id, a key id, a schedule id; for `tenant`, the caller's tenant (default).
    subject: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=SAFE_VALUE.pattern
    )
    period: Literal["day", "month"]
    usd: float | None = Field(default=None, ge=0, le=10_000_000)
    tokens: int | None = Field(default=None, ge=0, le=10**15)


class BudgetOut(BaseModel):
    id: str
    tenant: str
    scope: str
    subject: str
    period: str
    usd: float | None = None
    tokens: int | None = None
    created_by: str
    created_at: datetime


class BudgetList(BaseModel):
    budgets: list[BudgetOut]


class UsageGroup(BaseModel):
    # The tenant, user, model, skill or schedule (null: calls that have none, e.g. no schedule).
    group: str | None
    calls: int
    input_tokens: int
    output_tokens: int
    usd: float
    # Held by calls in flight: not spent yet, but counted against the caps.
    reserved_usd: float
    # Calls answered from the LLM response cache (not in `calls`: they reached no provider and
    # cost nothing) and what the provider would have charged for them.
    cache_hits: int = 0
    saved_usd: float = 0.0


class EmbeddingCacheUsage(BaseModel):
    """The embedding cache's answers in a usage report's period (by the hour: the hours that
    overlap it)."""

    # Texts whose vector was found cached (embedded by no model) and texts embedded.
    hits: int = 0
    misses: int = 0
    hit_rate: float | None = Field(default=None, description="hits / (hits + misses); null: none")


class UsageReport(BaseModel):
    group_by: Literal["tenant", "user", "model", "skill", "schedule"]
    start: datetime
    end: datetime
    # Only this user's calls (a caller without the operator role sees their own).
    user_id: str | None = None
    groups: list[UsageGroup]
    total_usd: float
    # What the LLM response cache saved in the period (the groups' `saved_usd` summed).
    saved_usd: float = 0.0
    # What the embedding cache answered for the tenant's ingestion in the period (operators and
    # admins only: ingestion is the tenant's, not a user's). None for other callers.
    embedding_cache: EmbeddingCacheUsage | None = None
