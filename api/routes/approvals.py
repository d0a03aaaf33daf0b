"""The approvals inbox: what waits for the caller's decision, across the tenant's runs. Answering
is `POST /v1/runs/{run_id}/approvals/{approval_id}` (four eyes: never your own run's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from aios.wire import Inbox
from api.deps import PrincipalDep
from api.run_service import RunsDep

router = APIRouter(prefix="/v1/approvals", tags=["approvals"])


@router.get("", response_model=Inbox)
async def inbox(
    principal: PrincipalDep,
    runs: RunsDep,
    limit: Annotated[int, Query(ge=1, le=200, description="runs to look at")] = 50,
) -> Inbox:
    """The approvals the caller may answer, oldest first: run, step, requester, the arguments to
    approve with their `args_hash`, how long each has waited and when it expires. Needs the
    approver role (an empty list without it); your own runs' approvals are not yours to answer
    and are not listed."""
    return await runs.approvals.inbox(principal, limit=limit)
