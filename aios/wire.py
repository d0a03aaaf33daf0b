"""The REST API's wire models for runs, skills and tool calls: what a client sends and what it
gets back. One definition, used by the API's routes (which validate and document them) and by the
Python client (which returns them typed), so the two cannot drift.

Models the workflows also use (`RunState`, `ApprovalAck`, `StepOutput`) live in `aios.models`;
the decision trace in `aios.trace`.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aios.config import DEFAULT_MAX_GOAL_CHARS
from aios.models import ApprovalContext, CacheMode, ChatReply, ToolSpec
from aios.plan import Plan, ReviewPolicy
from aios.skills import SkillInfo
from aios.vocabulary import PlannerName, RunStatus

# Printable text without control characters: ids and filter values end up in visibility queries.
SAFE_VALUE = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")


class CreateRun(BaseModel):
    """`POST /v1/runs`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"goal": "Write a short report on how our pumps are maintained"},
                {
                    "goal": "Publish the weekly summary",
                    "plan": {
                        "steps": [
                            {
                                "id": "draft",
                                "kind": "tool",
                                "tool": "echo",
                                "args": {"value": "the draft"},
                            },
                        ]
                    },
                    "budget_usd": 0.5,
                },
            ]
        },
    )

    goal: str = Field(
        min_length=1,
        description="what the run should achieve; at most AIOS_MAX_GOAL_CHARS characters "
        "(8000 by default: put long material in a document)",
        # Documented here; checked by the run service against the deployment's setting.
        json_schema_extra={"maxLength": DEFAULT_MAX_GOAL_CHARS},
    )
    skill: str | None = Field(default=None, max_length=100)
    inputs: dict[str, Any] = Field(default_factory=dict)
    planner: PlannerName = PlannerName.HYBRID
    user_id: str | None = Field(default=None, max_length=200, pattern=SAFE_VALUE.pattern)
    session_id: str | None = Field(default=None, max_length=200, pattern=SAFE_VALUE.pattern)
    budget_usd: float | None = Field(
        default=None, ge=0, description="stop before a model call that could cost more"
    )
    max_tokens: int | None = Field(
        default=None, ge=1, description="total tokens the run may use (input and output)"
    )
    max_steps: int | None = Field(default=None, ge=1, le=200)
    max_replans: int = Field(
        default=1, ge=0, le=5, description="revised plans after a failed step (LLM plans only)"
    )
    plan: Plan | None = Field(default=None, description="run this plan instead of planning")
    versions: dict[str, str] | None = Field(
        default=None,
        max_length=8,
        description="pin versions (GET /v1/versions): system, planner, agent, skill (a label, a "
        "hash prefix or latest), model (fast, strong or provider:model); default: latest",
    )
    cache: CacheMode | None = Field(
        default=None,
        description="which model calls the LLM response cache may answer: `auto` (default: "
        "temperature 0 only), `force` (all), `off` (bypass the cache)",
    )
    review: ReviewPolicy | None = Field(
        default=None,
        description="when a person reviews the answer before the run returns it "
        "(`{when: low_confidence|always|never, threshold}`); default: the skill's, else none",
    )

    def fingerprint(self) -> str:
        """The same request gives the same fingerprint (an Idempotency-Key must not be reused
        for a different request)."""
        # Without an unset `versions`: a request's fingerprint stays what it was before pins.
        unset = {"versions"} if self.versions is None else None
        canonical = json.dumps(
            self.model_dump(mode="json", exclude=unset), sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


# --- voice --------------------------------------------------------------------------------------


class TranscriptSegment(BaseModel):
    """A stretch of speech between pauses, with its time in the audio."""

    start_s: float
    end_s: float
    text: str


class Transcript(BaseModel):
    """`POST /v1/transcriptions`, and the `transcript` of a run or chat message sent as audio."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "text": "what does our leave policy say about parental leave",
                    "language": "en",
                    "duration_s": 3.2,
                    "segments": [
                        {
                            "start_s": 0.1,
                            "end_s": 3.0,
                            "text": "what does our leave policy say about parental leave",
                        }
                    ],
                    "engine": "openai:whisper-1",
                }
            ]
        }
    )

    text: str
    language: str | None = Field(description="ISO 639-1 code, when the engine says")
    duration_s: float = Field(description="the audio's length, as decoded by AIOS")
    segments: list[TranscriptSegment] = Field(default_factory=list)
    engine: str = Field(description="who transcribed it: `local:pocketsphinx` or `openai:<model>`")


class ChatResponse(ChatReply):
    """`POST /v1/chat`: the reply, and the transcript when the message was sent as audio."""

    transcript: Transcript | None = Field(
        default=None, description="what was heard, when the message was sent as `audio`"
    )


class RunLinks(BaseModel):
    self: str
    events: str
    temporal_ui: str


class RunCreated(BaseModel):
    """The answer to starting a run (202): where to follow it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "run_id": "run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                    "status": "queued",
                    "links": {
                        "self": "http://127.0.0.1:8000/v1/runs/run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                        "events": "http://127.0.0.1:8000/v1/runs/run-01jd2x7k9q3m5n8p4r6s0t2v4w/events",
                        "temporal_ui": "http://127.0.0.1:8233/namespaces/default/workflows/run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                    },
                }
            ]
        }
    )

    run_id: str
    status: RunStatus
    links: RunLinks
    transcript: Transcript | None = Field(
        default=None, description="what was heard, when the goal was sent as `audio`"
    )


class RunSummary(BaseModel):
    run_id: str
    status: RunStatus
    goal: str
    user_id: str | None
    created_at: datetime | None
    closed_at: datetime | None


class RunList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "runs": [
                        {
                            "run_id": "run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                            "status": "completed",
                            "goal": "Write a short report on how our pumps are maintained",
                            "user_id": "ada",
                            "created_at": "2026-11-22T09:00:00Z",
                            "closed_at": "2026-11-22T09:00:12Z",
                        }
                    ],
                    "next_page_token": "CgZydW4tMDE.9c1f03a2b7e4d615",
                }
            ]
        }
    )

    runs: list[RunSummary]
    next_page_token: str | None


class RunFilter(BaseModel):
    """Which of the caller's tenant's runs `GET /v1/runs` lists."""

    status: RunStatus | None = None
    user_id: str | None = None
    schedule_id: str | None = None


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


class CancelAccepted(BaseModel):
    run_id: str
    status: str


class SkillList(BaseModel):
    skills: list[SkillInfo]


class StartSkill(BaseModel):
    """`POST /v1/skills/{name}/runs`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"inputs": {"topic": "How do approvals work?"}}]},
    )

    inputs: dict[str, Any] = Field(default_factory=dict)
    goal: str | None = Field(default=None, description="default: from the skill's inputs")
    user_id: str | None = Field(default=None, max_length=200, pattern=SAFE_VALUE.pattern)
    session_id: str | None = Field(default=None, max_length=200, pattern=SAFE_VALUE.pattern)
    budget_usd: float | None = Field(default=None, gt=0)
    cache: CacheMode | None = None
    review: ReviewPolicy | None = None


class ToolList(BaseModel):
    tools: list[ToolSpec]


class Invoke(BaseModel):
    """`POST /v1/tools/{name}/invoke`."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"args": {"text": "count these words"}}]}
    )

    args: dict[str, Any] = Field(default_factory=dict)


class Invoked(BaseModel):
    output: Any = None
    run_id: str
    status: RunStatus


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


class ReportLinks(BaseModel):
    self: str
    markdown: str
    html: str
    pdf: str = ""
    run: str


class ReportSummary(BaseModel):
    """One report in `GET /v1/reports`."""

    report_id: str
    run_id: str
    user_id: str
    title: str
    created_at: datetime
    # Set when `publish_report` published it (after its approval); None: the run's own report.
    published_at: datetime | None = None
    links: ReportLinks


class ReportList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "reports": [
                        {
                            "report_id": "rpt-01jd2x7k9q3m5n8p4r6s0t2v4w",
                            "run_id": "run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                            "user_id": "ada",
                            "title": "How are our pumps maintained?",
                            "created_at": "2026-11-22T09:00:12Z",
                            "published_at": None,
                            "links": {
                                "self": "/v1/reports/rpt-01jd2x7k9q3m5n8p4r6s0t2v4w",
                                "markdown": "/v1/reports/rpt-01jd2x7k9q3m5n8p4r6s0t2v4w.md",
                                "html": "/v1/reports/rpt-01jd2x7k9q3m5n8p4r6s0t2v4w.html",
                                "run": "/v1/runs/run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                            },
                        }
                    ],
                    "next_page_token": None,
                }
            ]
        }
    )

    reports: list[ReportSummary]
    next_page_token: str | None = None


class ReportOut(ReportSummary):
    """`GET /v1/reports/{id}`: the report as Markdown, as sanitized HTML rendered from it, and the
    sources it cites."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "report_id": "rpt-01jd2x7k9q3m5n8p4r6s0t2v4w",
                    "run_id": "run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                    "user_id": "ada",
                    "title": "How are our pumps maintained?",
                    "created_at": "2026-11-22T09:00:12Z",
                    "published_at": "2026-11-22T09:05:40Z",
                    "links": {
                        "self": "/v1/reports/rpt-01jd2x7k9q3m5n8p4r6s0t2v4w",
                        "markdown": "/v1/reports/rpt-01jd2x7k9q3m5n8p4r6s0t2v4w.md",
                        "html": "/v1/reports/rpt-01jd2x7k9q3m5n8p4r6s0t2v4w.html",
                        "run": "/v1/runs/run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                    },
                    "markdown": "Seals are replaced every 4,000 hours [1].",
                    "html": "<p>Seals are replaced every 4,000 hours [1].</p>\n",
                    "citations": [
                        {"n": 1, "source": "pumps.md", "title": "Pumps", "chunk_id": "doc-1#0"}
                    ],
                }
            ]
        }
    )

    markdown: str
    html: str
    citations: list[dict[str, Any]] = Field(default_factory=list)


# --- budgets and usage (the spend ledger, aios/stores/ledger.py) ---------------------------


class SetBudget(BaseModel):
    """A cap on what one scope of the caller's tenant may spend per day or month, in USD and/or
    tokens (`POST /v1/budgets`; setting it again replaces it)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"scope": "tenant", "period": "month", "usd": 50},
                {"scope": "user", "subject": "ada", "period": "day", "usd": 5},
            ]
        },
    )

    scope: Literal["tenant", "user", "key", "schedule"]
    # Whose cap: a user id, a key id, a schedule id; for `tenant`, the caller's tenant (default).
    subject: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=SAFE_VALUE.pattern
    )
    period: Literal["day", "month"]
    usd: float | None = Field(default=None, ge=0, le=10_000_000)
    tokens: int | None = Field(default=None, ge=0, le=10**15)


class BudgetOut(BaseModel):
    id: str
    tenant: str
    scope: str
    subject: str
    period: str
    usd: float | None = None
    tokens: int | None = None
    created_by: str
    created_at: datetime


class BudgetList(BaseModel):
    budgets: list[BudgetOut]


class UsageGroup(BaseModel):
    # The tenant, user, model, skill or schedule (null: calls that have none, e.g. no schedule).
    group: str | None
    calls: int
    input_tokens: int
    output_tokens: int
    usd: float
    # Held by calls in flight: not spent yet, but counted against the caps.
    reserved_usd: float
    # Calls answered from the LLM response cache (not in `calls`: they reached no provider and
    # cost nothing) and what the provider would have charged for them.
    cache_hits: int = 0
    saved_usd: float = 0.0


class EmbeddingCacheUsage(BaseModel):
    """The embedding cache's answers in a usage report's period (by the hour: the hours that
    overlap it)."""

    # Texts whose vector was found cached (embedded by no model) and texts embedded.
    hits: int = 0
    misses: int = 0
    hit_rate: float | None = Field(default=None, description="hits / (hits + misses); null: none")


class UsageReport(BaseModel):
    group_by: Literal["tenant", "user", "model", "skill", "schedule"]
    start: datetime
    end: datetime
    # Only this user's calls (a caller without the operator role sees their own).
    user_id: str | None = None
    groups: list[UsageGroup]
    total_usd: float
    # What the LLM response cache saved in the period (the groups' `saved_usd` summed).
    saved_usd: float = 0.0
    # What the embedding cache answered for the tenant's ingestion in the period (operators and
    # admins only: ingestion is the tenant's, not a user's). None for other callers.
    embedding_cache: EmbeddingCacheUsage | None = None


class RunFileOut(BaseModel):
    """A file the run's tools wrote (`file_write`)."""

    path: str
    bytes: int
    updated_at: datetime
    download: str


class RunFileList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "files": [
                        {
                            "path": "notes/plan.md",
                            "bytes": 14,
                            "updated_at": "2026-11-22T09:00:07Z",
                            "download": "/v1/runs/run-01jd2x7k9q3m5n8p4r6s0t2v4w/files/notes/"
                            "plan.md",
                        }
                    ]
                }
            ]
        }
    )

    files: list[RunFileOut]


# --- chat sessions ----------------------------------------------------------------------------


class ChatSessionHeading(BaseModel):
    """A chat session (or a run's conversation) as `GET /v1/chat/sessions` lists it."""

    session_id: str
    user_id: str | None
    messages: int
    started_at: datetime
    last_at: datetime
    # How it began (the user's first message, cut): what a list shows to tell sessions apart.
    first_message: str


class ChatSessionList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sessions": [
                        {
                            "session_id": "s1",
                            "user_id": "ada",
                            "messages": 4,
                            "started_at": "2026-11-22T09:00:05Z",
                            "last_at": "2026-11-22T09:03:41Z",
                            "first_message": "How do approvals work?",
                        }
                    ],
                    "next_page_token": None,
                }
            ]
        }
    )

    sessions: list[ChatSessionHeading]
    next_page_token: str | None = None


class ChatSessionMessage(BaseModel):
    seq: int
    role: str
    content: str
    created_at: datetime | None = None


class ChatSession(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "session_id": "s1",
                    "user_id": "ada",
                    "summary": "",
                    "messages": [
                        {
                            "seq": 1,
                            "role": "user",
                            "content": "How do approvals work?",
                            "created_at": "2026-11-22T09:00:05Z",
                        },
                        {
                            "seq": 2,
                            "role": "assistant",
                            "content": "A step that needs approval waits for a person [1].",
                            "created_at": "2026-11-22T09:00:09Z",
                        },
                    ],
                }
            ]
        }
    )

    session_id: str
    user_id: str | None
    # What the older messages were folded into once the session grew long ('' until then).
    summary: str
    messages: list[ChatSessionMessage]
