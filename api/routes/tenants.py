"""A tenant's stored records, for an administrator honouring a deletion request."""

from __future__ import annotations

from fastapi import APIRouter, Path
from pydantic import BaseModel

from aios.stores.traces import TraceStore
from api.deps import DbDep, PrincipalDep, require_admin
from api.examples import example
from api.temporal_reads import SAFE_VALUE

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])


class TracesDeleted(BaseModel):
    tenant: str
    deleted: int


@router.delete(
    "/{tenant}/traces",
    response_model=TracesDeleted,
    responses=example({"tenant": "acme", "deleted": 1204}),
)
async def delete_tenant_traces(
    tenant: str = Path(max_length=200, pattern=SAFE_VALUE.pattern),
    *,
    principal: PrincipalDep,
    pool: DbDep,
) -> TracesDeleted:
    """Delete every decision trace of the tenant's runs (admin only). Documents and memory have
    their own deletions (`DELETE /v1/documents/{id}`, `DELETE /v1/users/{id}/memory`)."""
    require_admin(principal)
    return TracesDeleted(tenant=tenant, deleted=await TraceStore(pool).delete_tenant(tenant))
