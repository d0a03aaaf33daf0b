"""Pydantic models that cross process and workflow boundaries.

One `XxxInput` / `XxxResult` per workflow, activity, signal and update, so fields can be added later
without breaking recorded histories (new fields always get defaults).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from aios.plan import Plan

RunStatus = Literal[
    "queued", "running", "awaiting_approval", "completed", "failed", "cancelled", "timed_out"
]
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled", "timed_out"})
StepStatus = Literal[
    "pending", "running", "awaiting_approval", "completed", "failed", "skipped", "cancelled"
]
PlannerName = Literal["llm", "rule", "hybrid"]


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=round(self.cost_usd + other.cost_usd, 8),
        )


class Citation(BaseModel):
    source: str
    title: str = ""
    chunk_id: str = ""
    snippet: str = ""
    score: float = 0.0


class RunResult(BaseModel):
    answer: str
    citations: list[Citation] = Field(default_factory=list)


# --- the agent run -------------------------------------------------------------------------


class AgentRunInput(BaseModel):
    goal: str
    tenant: str = "default"
    user_id: str = "anonymous"
    session_id: str | None = None
    skill: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    planner: PlannerName = "rule"
    # A client-supplied plan skips the planner (it is validated the same way).
    plan: Plan | None = None
    budget_usd: float | None = None
    max_steps: int | None = None


class StepState(BaseModel):
    id: str
    kind: str
    title: str
    status: StepStatus = "pending"
    attempts: int = 0
    depends_on: list[str] = Field(default_factory=list)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    output_ref: str | None = None
    error: str | None = None
    usage: Usage = Field(default_factory=Usage)


class PendingApproval(BaseModel):
    approval_id: str
    step_id: str
    reason: str
    args: Any = None
    args_hash: str
    requested_at: datetime
    expires_at: datetime


class RunEvent(BaseModel):
    seq: int
    type: str
    at: datetime
    step_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class RunState(BaseModel):
    """What the `state` query returns and `GET /v1/runs/{id}` serves."""

    run_id: str
    status: RunStatus = "queued"
    goal: str
    tenant: str = "default"
    user_id: str = "anonymous"
    plan: list[StepState] = Field(default_factory=list)
    pending_approvals: list[PendingApproval] = Field(default_factory=list)
    result: RunResult | None = None
    usage: Usage = Field(default_factory=Usage)
    created_at: datetime
    updated_at: datetime
    error: str | None = None
    last_event_seq: int = 0


class ApprovalDecision(BaseModel):
    """Payload of the `approve` update and of the `approve` signal."""

    approval_id: str
    decision: Literal["approve", "reject"] = "approve"
    args_hash: str
    comment: str | None = Field(default=None, max_length=2000)
    reviewer: str | None = None


class ApprovalAck(BaseModel):
    approval_id: str
    decision: Literal["approve", "reject"]
    step_id: str


class CancelRequest(BaseModel):
    reason: str | None = None
    requested_by: str | None = None


class EventsQuery(BaseModel):
    after_seq: int = 0


# --- activities ----------------------------------------------------------------------------


class PlanningInput(BaseModel):
    goal: str
    planner: PlannerName = "rule"
    skill: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    tenant: str = "default"
    # A client-supplied plan: validated against the tool registry instead of planning.
    plan: Plan | None = None


class PlanningResult(BaseModel):
    plan: Plan
    planner: str
    rationale: str = ""
    tools_requiring_approval: list[str] = Field(default_factory=list)


class StepInput(BaseModel):
    """What every step activity receives: resolved arguments plus identity for idempotency."""

    run_id: str
    step_id: str
    tenant: str
    user_id: str
    args: dict[str, Any] = Field(default_factory=dict)
    tool: str | None = None
    # Stable across retries and worker restarts: tools with side effects key on it.
    idempotency_key: str = ""


class StepResult(BaseModel):
    output: Any = None
    attempt: int = 1
    usage: Usage = Field(default_factory=Usage)


class ToolSpec(BaseModel):
    """A tool as the registry lists it (`GET /v1/tools`)."""

    name: str
    description: str
    input_schema: dict[str, Any]
    side_effects: bool = False
    requires_approval: bool = False
    timeout_s: float = 60.0
    permissions: list[str] = Field(default_factory=list)


class IngestInput(BaseModel):
    tenant: str = "default"
    paths: list[str] = Field(default_factory=list)
    urls: list[str] = Field(default_factory=list)


class IngestFileInput(BaseModel):
    tenant: str = "default"
    path: str


class IngestedDocument(BaseModel):
    document_id: str
    source: str
    title: str
    chunks: int
    unchanged: bool = False


class IngestResult(BaseModel):
    documents: list[IngestedDocument] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


class ListFilesInput(BaseModel):
    paths: list[str]


class ListFilesResult(BaseModel):
    files: list[str]
    errors: list[str] = Field(default_factory=list)
