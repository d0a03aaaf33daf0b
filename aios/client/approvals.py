"""The client's calls on approvals: answer one, and list those waiting for the caller."""

from __future__ import annotations

from typing import Any

from aios.client.base import ApiBase
from aios.models import ApprovalAck
from aios.wire import Inbox


class ApprovalsApi(ApiBase):
    """Approvals: answering a run's, and the caller's inbox."""

    async def approve(
        self, run_id: str, approval_id: str, args_hash: str, **answer: Any
    ) -> ApprovalAck:
        """Answer an approval with the `args_hash` the run showed (`decision="reject"` and a
        `comment` to reject)."""
        body = {"decision": "approve", "args_hash": args_hash, **answer}
        ack = await self.request("POST", f"/v1/runs/{run_id}/approvals/{approval_id}", json=body)
        return ApprovalAck.model_validate(ack)

    async def approvals(self, *, limit: int = 50) -> Inbox:
        """The approvals waiting for the caller's decision, oldest first."""
        inbox = await self.request("GET", "/v1/approvals", params={"limit": limit})
        return Inbox.model_validate(inbox)
