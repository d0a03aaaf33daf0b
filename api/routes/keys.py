"""API keys: created (shown once), listed by prefix, revoked. Managing keys takes the `admin`
role: an operator of the deployment, for any tenant."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from aios.errors import NotFound, ValidationFailed
from aios.stores.keys import ApiKeyRecord, ApiKeyStore
from aios.vocabulary import BUILTIN_ROLES
from aios.wire import SAFE_VALUE
from api.deps import ADMIN_ONLY, DbDep, RegistryDep
from api.examples import example

router = APIRouter(prefix="/v1/keys", tags=["keys"])


class CreateKey(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"tenant": "acme", "user_id": "ada", "roles": ["user"]}]},
    )

    tenant: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")
    user_id: str = Field(min_length=1, max_length=200, pattern=SAFE_VALUE.pattern)
    roles: list[str] = Field(default_factory=lambda: ["user"], min_length=1, max_length=10)
    name: str = Field(default="", max_length=200)
    rate_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    max_concurrent_runs: int | None = Field(default=None, ge=1, le=100_000)


@dataclass(frozen=True)
class KeyCreated(ApiKeyRecord):
    key: str = field(
        default="", metadata={"description": "the key: shown this once, stored hashed"}
    )


class KeyList(BaseModel):
    keys: list[ApiKeyRecord]


KEY_EXAMPLE: dict[str, Any] = {
    "id": "key_5f2c9a1e",
    "prefix": "5f2c9a1e",
    "tenant": "acme",
    "user_id": "ada",
    "roles": ["user"],
    "name": "ada's laptop",
    "rate_per_minute": 120,
    "max_concurrent_runs": 5,
    "created_at": "2026-11-22T08:00:00Z",
    "revoked_at": None,
    "last_used_at": "2026-11-22T09:00:00Z",
}


@router.post(
    "",
    status_code=201,
    response_model=KeyCreated,
    responses=example(
        {**KEY_EXAMPLE, "last_used_at": None, "key": "aios_live_5f2c9a1e_q8Vf…"}, status=201
    ),
    dependencies=[ADMIN_ONLY],
)
async def create_key(body: CreateKey, pool: DbDep, registry: RegistryDep) -> KeyCreated:
    """A key bound to a tenant, a user and roles (`user`, `approver`, `operator`, `admin`, or finer
    ones the tools name). An unknown role is a 422 naming the known ones."""
    known = BUILTIN_ROLES | {role for spec in registry.specs(None) for role in spec.roles}
    unknown = sorted(set(body.roles) - known)
    if unknown:
        raise ValidationFailed(
            f"roles: unknown {', '.join(map(repr, unknown))}; the known roles are "
            f"{', '.join(sorted(known))}"
        )
    key, record = await ApiKeyStore(pool).create(
        tenant=body.tenant,
        user_id=body.user_id,
        roles=sorted(set(body.roles)),
        name=body.name,
        rate_per_minute=body.rate_per_minute,
        max_concurrent_runs=body.max_concurrent_runs,
    )
    return KeyCreated(key=key, **vars(record))


@router.get(
    "",
    response_model=KeyList,
    responses=example({"keys": [KEY_EXAMPLE]}),
    dependencies=[ADMIN_ONLY],
)
async def list_keys(
    pool: DbDep,
    tenant: Annotated[str | None, Query(max_length=100)] = None,
) -> KeyList:
    return KeyList(keys=await ApiKeyStore(pool).list(tenant))


@router.delete(
    "/{key_id}",
    response_model=ApiKeyRecord,
    responses=example({**KEY_EXAMPLE, "revoked_at": "2026-11-22T10:00:00Z"}),
    dependencies=[ADMIN_ONLY],
)
async def revoke_key(key_id: str, pool: DbDep) -> ApiKeyRecord:
    """Revoke a key: it stops working at once, in every API process."""
    store = ApiKeyStore(pool)
    if not await store.revoke(key_id):
        raise NotFound(f"no live key {key_id!r}")
    return next(r for r in await store.list() if r.id == key_id)
