"""Approval activities: asking for a standing approval before a run waits for a person."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from activities.common import classified
from aios.standing import StandingUse, StandingUseRequest
from aios.stores.standing_approvals import StandingApprovalStore
from aios.vocabulary import Activity


class ApprovalActivities:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._standing = StandingApprovalStore(pool)

    @activity.defn(name=Activity.USE_STANDING_APPROVAL)
    @classified
    async def use_standing_approval(self, request: StandingUseRequest) -> StandingUse | None:
        """The standing approval that allows this action, one of its uses consumed (once per
        `use_key`, however often this is retried), or None: the run waits for a person."""
        return await self._standing.use(request)
