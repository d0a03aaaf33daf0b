"""User memory: what AIOS keeps about a user (facts, preferences, semantic memories), readable,
writable and forgettable through one resource. Scoped to the caller's tenant."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from activities.llm.caller import spending
from activities.memory import FactIn, ForgetReport, MemoryRead
from aios.errors import ValidationFailed
from aios.stores.ledger import LedgerStore
from aios.wire import SAFE_VALUE
from api.authz import require_user
from api.deps import DbDep, MemoryDep, Principal, PrincipalDep
from api.examples import example

router = APIRouter(prefix="/v1/users", tags=["memory"])

UserId = Annotated[str, Path(max_length=200, pattern=SAFE_VALUE.pattern)]


def _charged(principal: Principal, pool: asyncpg.Pool) -> AbstractContextManager[None]:
    """The caller's spend account for this request: a paid embedding model's requests are
    charged to the caller's user, key and tenant."""
    return spending(
        LedgerStore(pool),
        tenant=principal.tenant,
        user_id=principal.user_id,
        key_id=principal.key_id,
    )


class MemoryIn(BaseModel):
    text: str = Field(min_length=1, max_length=20_000)
    key: str | None = Field(
        default=None, max_length=200, description="a stable key: writing it again replaces it"
    )


class MemoryWrite(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "facts": [
                        {"key": "timezone", "value": "Europe/Berlin", "kind": "preference"},
                        {"key": "team", "value": "payments", "ttl_s": 2592000},
                    ],
                    "memories": [{"text": "Prefers reports with an executive summary first."}],
                }
            ]
        },
    )

    facts: list[FactIn] = Field(default_factory=list, max_length=100)
    memories: list[MemoryIn] = Field(default_factory=list, max_length=100)


class MemoryWritten(BaseModel):
    user_id: str
    facts: list[str]
    memories: list[str]


class UserMemory(MemoryRead):
    user_id: str


@router.get(
    "/{user_id}/memory",
    response_model=UserMemory,
    responses=example(
        {
            "user_id": "ada",
            "facts": [
                {
                    "key": "timezone",
                    "value": "Europe/Berlin",
                    "kind": "preference",
                    "provenance": {"source": "api", "by": "ada"},
                    "expires_at": "2027-11-20T10:00:00Z",
                    "updated_at": "2026-11-20T10:00:00Z",
                }
            ],
            "memories": [
                {
                    "id": "7c9e6679-7425-50de-944b-e07fc1f90ae7",
                    "text": "Prefers reports with an executive summary first.",
                    "score": 0.62,
                    "provenance": {"source": "run", "run_id": "run-01jd2x7k9q3m5n8p4r6s0t2v4w"},
                    "created_at": "2026-11-20T10:00:00Z",
                }
            ],
        }
    ),
)
async def read_memory(
    user_id: UserId,
    principal: PrincipalDep,
    memory: MemoryDep,
    pool: DbDep,
    q: Annotated[str | None, Query(max_length=4000, description="rank memories by this")] = None,
    k: Annotated[int, Query(ge=1, le=200)] = 50,
) -> UserMemory:
    """The user's live facts and preferences (expired ones are gone) and their semantic memories:
    the `k` closest to `q`, or the latest `k`. A user reads their own memory only."""
    require_user(principal, user_id, "memory")
    with _charged(principal, pool):  # a paid embedding model's request (402 over a cap)
        read = await memory.read(principal.tenant, user_id, q, k)
    return UserMemory(user_id=user_id, **read.model_dump())


@router.put(
    "/{user_id}/memory",
    response_model=MemoryWritten,
    responses=example(
        {
            "user_id": "ada",
            "facts": ["timezone", "team"],
            "memories": ["7c9e6679-7425-50de-944b-e07fc1f90ae7"],
        }
    ),
)
async def write_memory(
    user_id: UserId, body: MemoryWrite, principal: PrincipalDep, memory: MemoryDep, pool: DbDep
) -> MemoryWritten:
    """Upsert facts and preferences (by key) and add semantic memories (a memory with a `key`
    replaces the one written with that key before)."""
    require_user(principal, user_id, "memory")
    if not body.facts and not body.memories:
        raise ValidationFailed("send `facts`, `memories` or both")
    provenance = {"source": "api", "by": principal.user_id}
    if body.facts:
        await memory.write_facts(principal.tenant, user_id, body.facts, provenance)
    with _charged(principal, pool):  # a paid embedding model's requests (402 over a cap)
        ids = [
            await memory.remember(
                principal.tenant, user_id, item.text, item.key or f"api:{item.text}", provenance
            )
            for item in body.memories
        ]
    return MemoryWritten(user_id=user_id, facts=[f.key for f in body.facts], memories=ids)


@router.delete(
    "/{user_id}/memory",
    response_model=ForgetReport,
    responses=example(
        {"user_id": "ada", "facts": 2, "memories": 5, "messages": 40, "summaries": 1}
    ),
)
async def forget_user(user_id: UserId, principal: PrincipalDep, memory: MemoryDep) -> ForgetReport:
    """Forget the user: their facts, semantic memories and conversations, everywhere
    (PostgreSQL and Qdrant). The answer says how much of each was deleted."""
    require_user(principal, user_id, "memory")
    return await memory.forget_user(principal.tenant, user_id)
