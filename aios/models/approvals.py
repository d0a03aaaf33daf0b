"""Approvals: what a run waiting for a person shows (the request, the draft it is about), the
answer the API sends the run, and what the run acknowledges.

The `approve` update and signal carry these, and `GET /v1/runs/{id}` shows the pending ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aios.guardrails import Finding


class ApprovalContext(BaseModel):
    """The output of a step an approval depends on (the draft being approved), as a reviewer reads
    it: its text, or its JSON, cut at `aios.approvals.CONTEXT_CHARS` characters."""

    step_id: str
    title: str = ""
    text: str
    truncated: bool = False
    # Length of the whole rendered output (the step_output query and GET .../steps/{id}/output
    # give all of it).
    chars: int = 0


class ChildApprovals(BaseModel):
    """A skill step's child run tells its parent whether it now waits for a person (the
    parent's `child_approvals` signal): the parent shows `awaiting_approval` meanwhile."""

    run_id: str
    waiting: bool


class PendingApproval(BaseModel):
    approval_id: str
    step_id: str
    reason: str
    # `review`: a review of the run's answer (its args show the answer, its confidence and
    # evidence); the reviewer may edit the answer (`answer` in the decision).
    kind: Literal["approval", "review"] = "approval"
    args: Any = None
    # The outputs of the steps the approved step depends on (by step id); `args_hash` covers them
    # in full, so an approval of a stale draft is refused.
    about: list[ApprovalContext] = Field(default_factory=list)
    args_hash: str
    requested_at: datetime
    expires_at: datetime
    # k of n: distinct approvers needed, and who has approved so far.
    approvals_required: int = 1
    approved_by: list[str] = Field(default_factory=list)
    # Who may answer now (user ids, `role:<name>`, `group:<name>`); empty: anyone with the
    # approver role. An escalation replaces them with the next group.
    approvers: list[str] = Field(default_factory=list)
    # The approval policy that set who answers and how many (aios/approval_policies.py); None:
    # the plan's or skill's own `approval:`.
    policy: str | None = None
    # That policy lets the run's requester answer too (four eyes off; never from a plan).
    self_approval: bool = False
    # The id of the policy that allows self-approval (`self_approval`): the approval's own
    # policy, or a tenant-wide one (`dev:self-approval`, the development stack's). Shown as
    # "self-approval allowed by policy <id>" wherever the approval is.
    self_approval_policy: str | None = None
    # When the request derives from untrusted content (documents, web pages, tool output): the
    # steps or tools it came from, and what the guardrails found in them.
    untrusted_sources: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)


class ApprovalDecision(BaseModel):
    """Payload of the `approve` update and of the `approve` signal."""

    approval_id: str
    decision: Literal["approve", "reject"] = "approve"
    args_hash: str
    comment: str | None = Field(default=None, max_length=2000)
    reviewer: str | None = None
    # The reviewer's roles, as the API authenticated them (checked against an approval that names
    # its approvers).
    reviewer_roles: list[str] = Field(default_factory=list)
    # The groups the reviewer is in, as the API found them (checked against `group:<name>`).
    reviewer_groups: list[str] = Field(default_factory=list)
    # An answer review approved with an edit: the text the run returns instead of the model's.
    answer: str | None = Field(default=None, min_length=1, max_length=100_000)


class ApprovalAck(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "approval_id": "publish-approval",
                    "decision": "approve",
                    "step_id": "publish",
                    "status": "applied",
                }
            ]
        }
    )

    approval_id: str
    decision: Literal["approve", "reject"]
    step_id: str
    # `applied`: the run took the answer. `accepted` (HTTP 202): recorded durably, applied when a
    # worker picks the run up.
    status: Literal["applied", "accepted"] = "applied"
    detail: str | None = None
