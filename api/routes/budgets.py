"""Spend caps as data and the usage report, both over the spend ledger (aios/stores/ledger/,
docs/budgets.md).

- `POST /v1/budgets`, `DELETE /v1/budgets/{id}`: the `admin` role, inside the caller's tenant
  only (a cap names a scope of the caller's tenant; another tenant's cap is 404).
- `GET /v1/budgets`: operators and admins see every cap of the tenant; anyone else the caps that
  apply to them (the tenant's, their own user's and key's).
- `GET /v1/usage`: sums the ledger; operators and admins see the whole tenant, anyone else only
  their own calls, whatever they ask for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from aios.errors import ValidationFailed
from aios.stores.embedding_cache import EmbeddingCacheStore
from aios.stores.ledger import BudgetCap, LedgerStore
from aios.stores.llm_cache import LlmCacheStore
from aios.wire import (
    BudgetList,
    BudgetOut,
    EmbeddingCacheUsage,
    SetBudget,
    UsageGroup,
    UsageReport,
)
from api.authz import sees_all_users
from api.deps import ADMIN_ONLY, DbDep, PrincipalDep
from api.examples import example

router = APIRouter(prefix="/v1/budgets", tags=["budgets"])
usage_router = APIRouter(prefix="/v1/usage", tags=["budgets"])

BUDGET_EXAMPLE = {
    "id": "cap_5f2c9a1e0b3d",
    "tenant": "acme",
    "scope": "user",
    "subject": "ada",
    "period": "day",
    "usd": 5.0,
    "tokens": None,
    "created_by": "root",
    "created_at": "2026-12-01T08:00:00Z",
}


def _out(cap: BudgetCap) -> BudgetOut:
    return BudgetOut(**vars(cap))


@router.post(
    "",
    status_code=201,
    response_model=BudgetOut,
    responses=example(BUDGET_EXAMPLE, status=201),
    dependencies=[ADMIN_ONLY],
)
async def set_budget(body: SetBudget, principal: PrincipalDep, pool: DbDep) -> BudgetOut:
    """Cap what a scope of the caller's tenant (the tenant, a user, a key, a schedule) may spend
    per day or per month, in USD and/or tokens; setting the same scope and period again replaces
    the cap. Every model call is reserved against it before it is made."""
    if body.usd is None and body.tokens is None:
        raise ValidationFailed("a budget needs `usd`, `tokens` or both")
    subject = body.subject
    if body.scope == "tenant":
        if subject not in (None, principal.tenant):
            raise ValidationFailed(
                f"subject: a tenant cap is on the caller's own tenant {principal.tenant!r}"
            )
        subject = principal.tenant
    elif subject is None:
        raise ValidationFailed(f"subject: a {body.scope} cap names the {body.scope} it caps")
    cap = await LedgerStore(pool).set_cap(
        principal.tenant,
        body.scope,
        subject,
        body.period,
        usd=body.usd,
        tokens=body.tokens,
        created_by=principal.user_id,
    )
    return _out(cap)


@router.get("", response_model=BudgetList, responses=example({"budgets": [BUDGET_EXAMPLE]}))
async def list_budgets(principal: PrincipalDep, pool: DbDep) -> BudgetList:
    """The tenant's caps (to an operator or admin), or those that apply to the caller."""
    caps = await LedgerStore(pool).caps(principal.tenant)
    if not sees_all_users(principal):
        mine = {
            ("tenant", principal.tenant),
            ("user", principal.user_id),
            ("key", principal.key_id),
        }
        caps = [c for c in caps if (c.scope, c.subject) in mine]
    return BudgetList(budgets=[_out(c) for c in caps])


@router.delete("/{budget_id}", status_code=204, dependencies=[ADMIN_ONLY])
async def delete_budget(budget_id: str, principal: PrincipalDep, pool: DbDep) -> None:
    """Remove a cap of the caller's tenant (404 when the tenant has no cap of that id)."""
    await LedgerStore(pool).delete_cap(principal.tenant, budget_id)


@usage_router.get(
    "",
    response_model=UsageReport,
    responses=example(
        {
            "group_by": "user",
            "start": "2026-12-01T00:00:00Z",
            "end": "2026-12-05T12:00:00Z",
            "user_id": None,
            "groups": [
                {
                    "group": "ada",
                    "calls": 42,
                    "input_tokens": 51200,
                    "output_tokens": 9800,
                    "usd": 1.23,
                    "reserved_usd": 0.0,
                    "cache_hits": 7,
                    "saved_usd": 0.21,
                }
            ],
            "total_usd": 1.23,
            "saved_usd": 0.21,
        }
    ),
)
async def usage(
    principal: PrincipalDep,
    pool: DbDep,
    group_by: Literal["tenant", "user", "model", "skill", "schedule"] = "user",
    start: Annotated[
        datetime | None, Query(alias="from", description="default: the start of this month (UTC)")
    ] = None,
    end: Annotated[datetime | None, Query(alias="to", description="default: now")] = None,
) -> UsageReport:
    """What the tenant's model calls cost in [from, to), summed from the spend ledger and grouped
    by tenant, user, model, skill or schedule, with the calls the LLM response cache answered
    (`cache_hits`) and what they would have cost (`saved_usd`). A caller without the operator
    role sees their own calls only; operators and admins also see what the embedding cache
    answered for the tenant's ingestion (`embedding_cache`)."""
    now = datetime.now(UTC)
    start = (
        _aware(start) if start else now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    )
    end = _aware(end) if end else now + timedelta(seconds=1)
    if start >= end:
        raise ValidationFailed("from: must be before `to`")
    user_id = None if sees_all_users(principal) else principal.user_id
    rows = await LedgerStore(pool).usage(
        principal.tenant, group_by, start=start, end=end, user_id=user_id
    )
    hits = await LlmCacheStore(pool).usage(
        principal.tenant, group_by, start=start, end=end, user_id=user_id
    )
    groups = [UsageGroup(**vars(r)) for r in rows]
    for group in groups:
        if (cached := hits.pop(group.group, None)) is not None:
            group.cache_hits, group.saved_usd = cached.hits, round(cached.saved_usd, 6)
    # Groups whose every call was answered from the cache.
    groups += [
        UsageGroup(
            group=c.group,
            calls=0,
            input_tokens=0,
            output_tokens=0,
            usd=0.0,
            reserved_usd=0.0,
            cache_hits=c.hits,
            saved_usd=round(c.saved_usd, 6),
        )
        for c in hits.values()
    ]
    embedding_cache = None
    if user_id is None:
        embedded_hits, embedded = await EmbeddingCacheStore(pool).usage(
            principal.tenant, start=start, end=end
        )
        looked_up = embedded_hits + embedded
        embedding_cache = EmbeddingCacheUsage(
            hits=embedded_hits,
            misses=embedded,
            hit_rate=round(embedded_hits / looked_up, 4) if looked_up else None,
        )
    return UsageReport(
        group_by=group_by,
        start=start,
        end=end,
        user_id=user_id,
        groups=groups,
        total_usd=round(sum(g.usd for g in groups), 6),
        saved_usd=round(sum(g.saved_usd for g in groups), 6),
        embedding_cache=embedding_cache,
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


__all__ = ["router", "usage_router"]
