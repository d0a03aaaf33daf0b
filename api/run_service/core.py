"""What every path of the run service shares: the clients it is built over, its parts (versions,
approvals), and who may have which access to a run.

`RunCore` is the base of `RunService` (this package's `__init__`): starting (`launch`, `starts`)
and reading (`reads`) build on it, and the answers to approvals (api/run_approvals.py) reach a
run through the same `run_for`, so every use of a run passes the same access checks.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowHandle

from activities.tools import ToolRegistry
from aios import search_attributes as sa
from aios.config import Settings
from aios.errors import Forbidden, NotFound
from aios.models import EventsQuery, RunEvent
from aios.skills import SkillCatalog
from aios.stores import RunSnapshotStore
from aios.stores.deltas import DeltaHub
from aios.vocabulary import Role, RunStatus
from api.authz import has_role, may_act_on_run, may_read_run
from api.deps import Principal
from api.run_approvals import Access, RunApprovals
from api.temporal_reads import owned_run, query_within
from api.versions import VersionService
from workflows.agent_run import AgentRunWorkflow


@dataclass
class RunCore:
    """Runs, for one API process: the shared clients, and the checks every use of a run makes."""

    temporal: Client
    settings: Settings
    pool: asyncpg.Pool
    registry: ToolRegistry
    skills: SkillCatalog
    deltas: DeltaHub

    @functools.cached_property
    def versions(self) -> VersionService:
        """Versions of prompts and skills: listing, and resolving a run's pins."""
        return VersionService(self.pool, self.skills)

    @functools.cached_property
    def approvals(self) -> RunApprovals:
        """Answers to runs' approvals, and the inbox of what waits for a caller."""
        return RunApprovals(self)

    async def run_for(
        self, principal: Principal, run_id: str, access: Access, *, named: bool = False
    ) -> tuple[WorkflowHandle[Any, Any], WorkflowExecutionDescription]:
        """The run, if the caller may have `access` to it (`api.authz`): 404 when they may not
        see it at all (as for another tenant's), 403 when they see it but may not act on it.
        `named`: an approval policy names the caller for the approval they answer."""
        handle, description = await owned_run(
            self.temporal, self.settings, run_id, principal.tenant
        )
        attrs = description.typed_search_attributes
        owner = attrs.get(sa.USER)
        awaiting = attrs.get(sa.STATUS) == RunStatus.AWAITING_APPROVAL
        visible = may_read_run(principal, owner, False) or (
            access == Access.ANSWER and (named or has_role(principal, Role.APPROVER))
        )
        if not visible and awaiting:  # someone it waits on (an approval routed to them) reads it
            routed = await self.approvals.routed(principal, handle, description)
            visible = may_read_run(principal, owner, routed)
        if not visible:
            raise NotFound(f"no run {run_id!r}")
        if access == Access.ACT and not may_act_on_run(principal, owner):
            raise Forbidden(f"only the run's owner or an operator may change run {run_id}")
        return handle, description

    @property
    def snapshots(self) -> RunSnapshotStore:
        return RunSnapshotStore(self.pool)

    async def whole_log(self, handle: WorkflowHandle[Any, Any]) -> list[RunEvent]:
        """Every event the run keeps (a closed run answers queries too, until retention)."""
        events: list[RunEvent] = await query_within(
            self.settings,
            handle.query(
                AgentRunWorkflow.events,
                EventsQuery(after_seq=0),
                rpc_timeout=timedelta(seconds=self.settings.query_timeout_s),
            ),
        )
        return events
