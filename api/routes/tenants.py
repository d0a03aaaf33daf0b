"""A tenant's stored records, for an administrator honouring a deletion request: its decision
traces alone, or the whole tenant.

Erasing a tenant goes from what could write new data to what holds it: its schedules (no new
runs start), its workflows in Temporal (open ones stopped; every execution deleted, with its
history), then the vectors (document chunks, memories) and the PostgreSQL rows. Each part is
idempotent, so a request that fails half-way (a 503 while Temporal is out) is repeated to finish.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import WorkflowExecution as ExecutionId
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from aios import search_attributes as sa
from aios.stores.tenants import delete_tenant_rows
from aios.stores.traces import TraceStore
from aios.wire import SAFE_VALUE
from api.deps import (
    ADMIN_ONLY,
    DbDep,
    KnowledgeDep,
    MemoryDep,
    PrincipalDep,
    SettingsDep,
    TemporalDep,
)
from api.examples import example
from api.routes.schedules import tenant_schedule_ids
from api.temporal_reads import quoted, read_within

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])

# What `aios keys create` accepts as a tenant.
TenantName = Annotated[str, Path(max_length=100, pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")]


class TracesDeleted(BaseModel):
    tenant: str
    deleted: int


class TenantErased(BaseModel):
    """What erasing a tenant deleted, store by store."""

    tenant: str
    schedules: int = Field(description="Temporal schedules deleted")
    workflows_stopped: int = Field(
        description="runs, chat sessions and ingestion jobs still open, terminated"
    )
    workflows_deleted: int = Field(
        description="executions Temporal deletes with their histories (in the background: open"
        " ones at once, closed ones within a minute or so)"
    )
    chunks: int = Field(description="document chunks deleted from the vector store")
    memories: int = Field(description="semantic memories deleted from the vector store")
    rows: dict[str, int] = Field(description="PostgreSQL rows deleted, by table")


@router.delete(
    "/{tenant}/traces",
    response_model=TracesDeleted,
    responses=example({"tenant": "acme", "deleted": 1204}),
    dependencies=[ADMIN_ONLY],
)
async def delete_tenant_traces(
    tenant: str = Path(max_length=200, pattern=SAFE_VALUE.pattern),
    *,
    pool: DbDep,
) -> TracesDeleted:
    """Delete every decision trace of the tenant's runs (admin only). `DELETE /v1/tenants/{id}`
    erases the whole tenant."""
    return TracesDeleted(tenant=tenant, deleted=await TraceStore(pool).delete_tenant(tenant))


@router.delete(
    "/{tenant}",
    response_model=TenantErased,
    responses=example(
        {
            "tenant": "acme",
            "schedules": 2,
            "workflows_stopped": 1,
            "workflows_deleted": 311,
            "chunks": 5120,
            "memories": 48,
            "rows": {"documents": 96, "conversation_messages": 530, "api_keys": 4},
        }
    ),
    dependencies=[ADMIN_ONLY],
)
async def erase_tenant(
    tenant: TenantName,
    principal: PrincipalDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    pool: DbDep,
    knowledge: KnowledgeDep,
    memory: MemoryDep,
) -> TenantErased:
    """Erase everything AIOS holds for the tenant (admin only): its schedules; its workflows in
    Temporal, open ones terminated, every execution deleted with its history; its documents,
    chunks, uploads, memories, conversations, published reports, run snapshots, decision traces
    and tool-effect records; its API keys (the caller's own key is kept). Large payloads stored
    by content hash (artifacts) may be shared with other tenants' runs and stay. Idempotent:
    repeat a request that failed part-way (503 while Temporal is out) to finish it."""
    schedules = await _delete_schedules(temporal, settings, tenant)
    stopped, deleted = await _delete_workflows(temporal, settings, tenant)
    chunks = await knowledge.delete_tenant(tenant)
    memories = await memory.semantic.forget_tenant(tenant)
    keep = principal.key_id if principal.tenant == tenant else None
    rows = await delete_tenant_rows(pool, tenant, keep_key=keep)
    return TenantErased(
        tenant=tenant,
        schedules=schedules,
        workflows_stopped=stopped,
        workflows_deleted=deleted,
        chunks=chunks,
        memories=memories,
        rows=rows,
    )


async def _delete_schedules(temporal: TemporalDep, settings: SettingsDep, tenant: str) -> int:
    deleted = 0
    async for schedule_id in tenant_schedule_ids(temporal, settings, tenant):
        handle = temporal.get_schedule_handle(schedule_id)
        if await _gone_already(read_within(settings, handle.delete(), "a schedule's deletion")):
            continue
        deleted += 1
    return deleted


async def _delete_workflows(
    temporal: TemporalDep, settings: SettingsDep, tenant: str
) -> tuple[int, int]:
    """(open executions among those deleted, executions deleted). Temporal's
    DeleteWorkflowExecution terminates an open execution before deleting it."""
    listing = temporal.list_workflows(f"{sa.TENANT.name} = {quoted(tenant)}", page_size=1000)
    executions: list[WorkflowExecution] = []
    while True:
        await read_within(settings, listing.fetch_next_page(), "the tenant's workflows")
        executions += listing.current_page or []
        if not listing.next_page_token:
            break
    stopped = deleted = 0
    for execution in executions:
        request = DeleteWorkflowExecutionRequest(
            namespace=temporal.namespace,
            workflow_execution=ExecutionId(workflow_id=execution.id, run_id=execution.run_id),
        )
        call = temporal.workflow_service.delete_workflow_execution(request)
        if await _gone_already(read_within(settings, call, "a workflow's deletion")):
            continue
        deleted += 1
        stopped += execution.status == WorkflowExecutionStatus.RUNNING
    return stopped, deleted


async def _gone_already(deletion: Awaitable[object]) -> bool:
    """Run a Temporal deletion; True when there was nothing to delete (a repeated erase)."""
    try:
        await deletion
    except RPCError as e:  # read_within has made an outage a 503 already
        if e.status == RPCStatusCode.NOT_FOUND:
            return True
        raise
    return False
