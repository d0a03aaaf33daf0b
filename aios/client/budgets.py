"""The client's calls on spending: the tenant's budgets (caps) and the usage report, both from the
spend ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aios.client.base import ApiBase
from aios.wire import BudgetList, BudgetOut, UsageReport


class BudgetsApi(ApiBase):
    """Budgets and usage: `/v1/budgets`, `/v1/usage`."""

    async def budgets(self) -> BudgetList:
        """The tenant's spend caps (an operator's or admin's view), or those that apply to the
        caller."""
        return BudgetList.model_validate(await self.request("GET", "/v1/budgets"))

    async def set_budget(
        self,
        scope: str,
        period: str,
        *,
        subject: str | None = None,
        usd: float | None = None,
        tokens: int | None = None,
    ) -> BudgetOut:
        """Cap a scope of the caller's tenant (`tenant`, `user`, `key`, `schedule`) per `day` or
        `month`, in USD and/or tokens (the admin role)."""
        body = {"scope": scope, "period": period, "subject": subject, "usd": usd, "tokens": tokens}
        given = {k: v for k, v in body.items() if v is not None}
        return BudgetOut.model_validate(await self.request("POST", "/v1/budgets", json=given))

    async def delete_budget(self, budget_id: str) -> None:
        await self.request("DELETE", f"/v1/budgets/{budget_id}")

    async def usage(
        self, group_by: str = "user", *, start: datetime | None = None, end: datetime | None = None
    ) -> UsageReport:
        """What model calls cost, summed from the spend ledger (this month by default); a caller
        without the operator role gets their own calls only."""
        params: dict[str, Any] = {"group_by": group_by}
        if start is not None:
            params["from"] = start.isoformat()
        if end is not None:
            params["to"] = end.isoformat()
        return UsageReport.model_validate(await self.request("GET", "/v1/usage", params=params))
