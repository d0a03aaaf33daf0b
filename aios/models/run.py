"""The agent run: what starts it (`AgentRunInput`), its state as the `state` query and
`GET /v1/runs/{id}` show it, its steps, events and result, and the small payloads of its queries
and signals (cancel, events, a step's output).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aios.guardrails import Finding
from aios.models.agent import AgentTurnRecord
from aios.models.approvals import PendingApproval
from aios.models.llm import CacheMode, RunCap, Usage
from aios.models.retrieval import Citation
from aios.models.steps import PlanningResult
from aios.plan import Plan, ReviewPolicy, Step
from aios.quality import AnswerReview, Confidence
from aios.versions import RunVersions
from aios.vocabulary import PlannerName, RunEventType, RunStatus, StepStatus


class RunResult(BaseModel):
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    # For an answer meant to cite its sources: whether it rests on any document (false: the
    # knowledge base had nothing, and the answer says so). None: not a cited answer.
    grounded: bool | None = None
    # The answer step's confidence (aios/quality.py); None: it measured none.
    confidence: Confidence | None = None
    # A person's review of the answer, when the run asked for one (its `review` policy).
    review: AnswerReview | None = None


class AgentRunInput(BaseModel):
    goal: str
    tenant: str = "default"
    user_id: str = "anonymous"
    session_id: str | None = None
    # The caller's roles: plans may use only the tools these allow. None: unrestricted (a run
    # started through Temporal directly, by an operator).
    roles: list[str] | None = None
    # What the API's input guardrails found in the goal (recorded as the run's first events).
    input_findings: list[Finding] = Field(default_factory=list)
    skill: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    planner: PlannerName = PlannerName.HYBRID
    # A client-supplied plan skips the planner (it is validated the same way). The API sends it
    # in `planning` instead, checked; here it comes from other starters (and older runs).
    plan: Plan | None = None
    budget_usd: float | None = None
    max_tokens: int | None = None
    max_steps: int | None = None
    max_replans: int = 1
    # Which model calls the LLM response cache answers (None: `auto`, temperature 0 only).
    cache: CacheMode | None = None
    # When a person reviews the answer before the run returns it (None: the skill's or plan's).
    review: ReviewPolicy | None = None
    # A skill's child run: the budgets of the runs above it (its parent first), which every model
    # call it makes is also reserved against (aios/stores/ledger/).
    parent_runs: list[RunCap] = Field(default_factory=list)
    # The API key that started the run and the schedule that did (the spend ledger charges their
    # caps and reports under them); None: started otherwise.
    key_id: str | None = None
    schedule_id: str | None = None
    # Task queues of activity groups ("llm", "tools") when workers are split by queue
    # (aios/queues.py); empty: every activity on the run's own queue.
    activity_queues: dict[str, str] = Field(default_factory=dict)
    # The workflow patches the run takes from its start (the API sets the current generation,
    # workflows/agent_run.py CURRENT_PATCHES): the input is in the history, so no patch marker
    # is needed to know them. None (older runs, other starters): a patch marker decides.
    patches: str | None = None
    # The versions of prompts and skill the run uses and the model it was pinned to, resolved
    # by the API (aios/versions.py); None: the code's current ones.
    versions: RunVersions | None = None
    # The planning done before the run started (the API plans what needs no model: a client's
    # plan or the rule planner's, checked against the registry): the run makes no planning call.
    # None: the run plans (the LLM planner, schedules, older runs).
    planning: PlanningResult | None = None


class StepState(BaseModel):
    id: str
    kind: str
    title: str
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    depends_on: list[str] = Field(default_factory=list)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    # Where the step's full output can be read: `steps/<id>/output`, relative to the run's URL.
    output_ref: str | None = None
    error: str | None = None
    usage: Usage = Field(default_factory=Usage)
    # An `agent` step's turns and the tool calls of each.
    turns: list[AgentTurnRecord] = Field(default_factory=list)

    @classmethod
    def of(cls, step: Step) -> StepState:
        """A planned step before it has run."""
        return cls(id=step.id, kind=step.kind, title=step.title, depends_on=list(step.depends_on))


class RunEvent(BaseModel):
    seq: int
    type: RunEventType
    at: datetime
    step_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class RunState(BaseModel):
    """What the `state` query returns and `GET /v1/runs/{id}` serves."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "run_id": "run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                    "status": "awaiting_approval",
                    "goal": "Publish the weekly summary",
                    "tenant": "acme",
                    "user_id": "ada",
                    "plan": [
                        {
                            "id": "draft",
                            "kind": "llm",
                            "title": "Draft",
                            "status": "completed",
                            "attempts": 1,
                            "output_ref": "steps/draft/output",
                        },
                        {
                            "id": "publish",
                            "kind": "tool",
                            "title": "publish_report",
                            "status": "awaiting_approval",
                            "attempts": 0,
                            "depends_on": ["draft"],
                        },
                    ],
                    "pending_approvals": [
                        {
                            "approval_id": "publish-approval",
                            "step_id": "publish",
                            "reason": "publish_report requires approval",
                            "args": {"title": "Weekly summary"},
                            "args_hash": "9f2c4e1a7b3d5f60",
                            "requested_at": "2026-11-22T09:00:05Z",
                            "expires_at": "2026-11-23T09:00:05Z",
                        },
                    ],
                    "result": None,
                    "usage": {"input_tokens": 812, "output_tokens": 240, "cost_usd": 0.0011},
                    "created_at": "2026-11-22T09:00:00Z",
                    "updated_at": "2026-11-22T09:00:05Z",
                    "last_event_seq": 7,
                }
            ]
        }
    )

    run_id: str
    status: RunStatus = RunStatus.QUEUED
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
    # The versions of prompts and skill the run used (aios/versions.py); None: an older run.
    versions: RunVersions | None = None
    # Set by the API when no worker could answer and this is the last state it saw.
    stale: bool = False
    stale_reason: str | None = None


class CancelRequest(BaseModel):
    reason: str | None = None
    requested_by: str | None = None


class EventsQuery(BaseModel):
    after_seq: int = 0


class StepOutputQuery(BaseModel):
    step_id: str


class StepOutput(BaseModel):
    step_id: str
    status: StepStatus | None = None  # None: the run has no step of that id
    output: Any = None
