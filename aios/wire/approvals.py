"""Approvals on the wire: a person's answer (`POST /v1/runs/{id}/approvals/{approval_id}`) and
the approvals waiting for the caller (`GET /v1/approvals`).

What the run acknowledges (`ApprovalAck`) is in `aios.models`: the workflow's update returns it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aios.models import ApprovalContext


class ApprovalBody(BaseModel):
    """`POST /v1/runs/{id}/approvals/{approval_id}`: the `args_hash` shown with the pending
    approval, so an answer never approves arguments the reviewer has not seen."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"decision": "approve", "args_hash": "9f2c4e1a7b3d5f60"},
                {"decision": "reject", "args_hash": "9f2c4e1a7b3d5f60", "comment": "not today"},
            ]
        },
    )

    decision: Literal["approve", "reject"]
    args_hash: str = Field(min_length=1, max_length=128)
    comment: str | None = Field(default=None, max_length=2000)
    answer: str | None = Field(
        default=None,
        min_length=1,
        max_length=100_000,
        description="an answer review (kind `review`) approved with this text instead of the "
        "model's: the run returns it, recording who edited it",
    )


class InboxItem(BaseModel):
    """One approval waiting for the caller (`GET /v1/approvals`): what to answer, for whom, and
    how long it has waited."""

    run_id: str
    goal: str
    requester: str
    approval_id: str
    step_id: str
    reason: str
    args: Any = None
    # The outputs of the steps the approved step depends on (the draft being approved), cut.
    about: list[ApprovalContext] = Field(default_factory=list)
    args_hash: str
    requested_at: datetime
    expires_at: datetime
    waiting_s: float
    # k of n: distinct approvers needed, and who has approved so far.
    approvals_required: int = 1
    approved_by: list[str] = Field(default_factory=list)
    # The arguments derive from untrusted content (documents, web pages, tool output).
    untrusted_sources: list[str] = Field(default_factory=list)
    # Who may answer, and the approval policy that said so (None: the plan's own terms).
    approvers: list[str] = Field(default_factory=list)
    policy: str | None = None
    # The requester may answer too, and the policy that allows it (PendingApproval's).
    self_approval: bool = False
    self_approval_policy: str | None = None


class Inbox(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "approvals": [
                        {
                            "run_id": "run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                            "goal": "Publish the weekly summary",
                            "requester": "ada",
                            "approval_id": "publish-approval",
                            "step_id": "publish",
                            "reason": "publish_report requires approval",
                            "args": {"title": "Weekly summary"},
                            "args_hash": "9f2c4e1a7b3d5f60",
                            "requested_at": "2026-11-22T09:00:05Z",
                            "expires_at": "2026-11-23T09:00:05Z",
                            "waiting_s": 300.0,
                            "untrusted_sources": [],
                        }
                    ],
                    "more": False,
                }
            ]
        }
    )

    approvals: list[InboxItem]
    # More runs wait than one answer lists (the oldest are listed first).
    more: bool = False
