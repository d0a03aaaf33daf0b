"""Pydantic models that cross process and workflow boundaries.

One `XxxInput` / `XxxResult` per workflow, activity, signal and update, so fields can be added later
without breaking recorded histories (new fields always get defaults).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from aios.guardrails import Finding
from aios.plan import Plan, RetrySpec, ReviewPolicy, Step
from aios.quality import AnswerReview, Confidence
from aios.versions import RunVersions
from aios.vocabulary import PlannerName, RunEventType, RunStatus, StepStatus

# How much of a passage a citation or search result quotes.
SNIPPET_CHARS = 240


def snippet_of(text: str) -> str:
    """The first SNIPPET_CHARS characters of `text` with its whitespace folded."""
    return " ".join(text.split())[:SNIPPET_CHARS]


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    # Model calls answered from the LLM response cache (activities/llm/cache.py): no tokens, no
    # cost; what the provider would have charged for them.
    cache_hits: int = 0
    saved_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=round(self.cost_usd + other.cost_usd, 8),
            cache_hits=self.cache_hits + other.cache_hits,
            saved_usd=round(self.saved_usd + other.saved_usd, 8),
        )


# Which model calls of a run the LLM response cache answers (activities/llm/cache.py): `auto`
# those at temperature 0, `force` every one, `off` none.
CacheMode = Literal["auto", "off", "force"]


class Citation(BaseModel):
    # The number the answer cites this source by (`[n]`), when it was numbered.
    n: int | None = None
    source: str
    title: str = ""
    document_id: str = ""
    chunk_id: str = ""
    snippet: str = ""
    score: float = 0.0


class Passage(BaseModel):
    """A piece of a source: what retrieval returns, what the context engine puts in a prompt,
    and what a citation points at."""

    source: str
    title: str = ""
    document_id: str = ""
    chunk_id: str = ""
    text: str = ""
    score: float = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def snippet(self) -> str:
        return snippet_of(self.text)

    def citation(self) -> Citation:
        return Citation(
            source=self.source,
            title=self.title,
            document_id=self.document_id,
            chunk_id=self.chunk_id,
            snippet=self.snippet,
            score=self.score,
        )


class Quote(BaseModel):
    """A sentence of a chunk, verbatim: `chunk text[start:end] == text`. Evidence a reader can
    check, ranked by how well it supports the query."""

    text: str
    chunk_id: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    score: float = 0.0


class SourcePassages(BaseModel):
    """The passages retrieved from one source, best first, and (when asked for) the sentences
    that best support the query."""

    source: str
    title: str = ""
    document_id: str = ""
    chunks: list[Passage] = Field(default_factory=list)
    quotes: list[Quote] = Field(default_factory=list)


class RetrieveOutput(BaseModel):
    """Output of a `retrieve` step: every passage, and the same grouped per source (plans fan out
    over `sources` to work per source)."""

    query: str
    chunks: list[Passage] = Field(default_factory=list)
    sources: list[SourcePassages] = Field(default_factory=list)


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


# --- conversations with models (shared by the agent step and the providers) ----------------


class ToolCall(BaseModel):
    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Message(BaseModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    # An assistant turn may ask for tool calls; a `tool` message answers one of them.
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None


class ToolSchema(BaseModel):
    """A tool as a model sees it: a name, what it does, the JSON schema of its arguments."""

    name: str
    description: str
    input_schema: dict[str, Any]


class RunCap(BaseModel):
    """A run's own budget as the spend ledger (aios/stores/ledger.py) enforces it."""

    run_id: str
    usd: float | None = None
    tokens: int | None = None


class Budget(BaseModel):
    """What a run may still spend; model-calling activities refuse a call that could exceed it."""

    tokens_left: int | None = None
    usd_left: float | None = None
    # The ledger's view: this run's cap, then its parent runs' up to the root's. A skill's child
    # run draws on these instead of a copy of the budget.
    runs: list[RunCap] = Field(default_factory=list)
    # Whom else the run's spend is charged to and reported under (their caps apply too).
    skill: str | None = None
    schedule_id: str | None = None
    key_id: str | None = None


class RoutingNote(BaseModel):
    """A model call that went elsewhere than asked: escalated to a stronger tier, or to the
    fallback provider during an outage."""

    kind: Literal["escalated", "fallback"]
    from_model: str
    to_model: str
    reason: str


class TrimmedDocument(BaseModel):
    """One document a prompt showed shortened to fit the model's window: what was cut."""

    n: int
    source: str
    title: str = ""
    kept_chars: int
    cut_chars: int
    cut_tokens: int


class ContextTrim(BaseModel):
    """What a model call's prompt left out to fit the model's window (activities/context.py),
    for the step's output and the run's trace (`context.trimmed` events)."""

    window: int
    budget_tokens: int
    documents: list[TrimmedDocument] = Field(default_factory=list)
    # Characters of the run's conversation (its oldest part) left out of the prompt.
    conversation_cut_chars: int = 0

    def note(self) -> str:
        parts = []
        if self.documents:
            cut = ", ".join(
                f"[{d.n}] {d.source} ({d.cut_chars} of {d.kept_chars + d.cut_chars} characters, "
                f"~{d.cut_tokens} tokens)"
                for d in self.documents
            )
            parts.append(
                f"documents trimmed to fit the model's {self.window}-token window "
                f"({self.budget_tokens} tokens for documents): cut {cut}"
            )
        if self.conversation_cut_chars:
            parts.append(
                f"conversation history cut: its oldest {self.conversation_cut_chars} characters "
                "left out"
            )
        return "; ".join(parts)


class SkillStepArgs(BaseModel):
    """Arguments of a `skill` step: run a skill as a child workflow (`SkillWorkflow`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    inputs: dict[str, Any] = Field(default_factory=dict)
    goal: str | None = Field(default=None, description="default: from the inputs, else the run's")


class AgentStepArgs(BaseModel):
    """Arguments of an `agent` step: a bounded tool-using loop."""

    model_config = ConfigDict(extra="forbid")

    instruction: str = Field(min_length=1, max_length=20_000)
    tools: list[str] = Field(default_factory=list, max_length=50)
    max_turns: int = Field(default=8, ge=1, le=32)
    model: str = "strong"
    system: str | None = Field(default=None, max_length=20_000)
    documents: Any = None
    max_tokens: int = Field(default=1024, ge=1, le=32_000)
    temperature: float = Field(default=0.2, ge=0, le=2)


class AgentToolCallRecord(BaseModel):
    id: str
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    status: Literal["completed", "failed", "rejected", "refused"] = "completed"
    error: str | None = None


class AgentTurnRecord(BaseModel):
    turn: int
    text: str = ""
    tool_calls: list[AgentToolCallRecord] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)


class AgentTurnInput(BaseModel):
    run_id: str
    step_id: str
    tenant: str
    user_id: str
    turn: int
    args: AgentStepArgs
    # The loop so far: assistant turns and the tool results answering them.
    conversation: list[Message] = Field(default_factory=list)
    budget: Budget | None = None
    max_attempts: int = 0
    # The prompt versions and model the run was pinned to (aios/versions.py).
    versions: RunVersions | None = None
    # The run's LLM response cache mode (None: `auto`).
    cache: CacheMode | None = None


class AgentTurnResult(BaseModel):
    message: Message
    usage: Usage = Field(default_factory=Usage)
    routing: list[RoutingNote] = Field(default_factory=list)
    # What the opening prompt cut from the step's documents to fit the model's window.
    context_trim: ContextTrim | None = None


# --- the agent run -------------------------------------------------------------------------


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
    # call it makes is also reserved against (aios/stores/ledger.py).
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


# --- activities ----------------------------------------------------------------------------


class PlanningInput(BaseModel):
    goal: str
    planner: PlannerName = PlannerName.HYBRID
    skill: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    tenant: str = "default"
    user_id: str = "anonymous"
    roles: list[str] | None = None
    # A client-supplied plan: validated against the tool registry instead of planning.
    plan: Plan | None = None
    budget: Budget | None = None
    # Replanning: what failed, and what already completed (by step id, outputs by reference).
    failed_step: str | None = None
    failure: str | None = None
    completed: list[str] = Field(default_factory=list)
    # The planner prompt's version and the model the run was pinned to (aios/versions.py).
    versions: RunVersions | None = None
    # The run's LLM response cache mode (None: `auto`): `off` keeps the planner's calls out of
    # the cache too.
    cache: CacheMode | None = None


class PlanningResult(BaseModel):
    plan: Plan
    planner: str
    rationale: str = ""
    usage: Usage = Field(default_factory=Usage)
    # Plans an LLM wrote can be revised when a step fails; templates and client plans cannot.
    replannable: bool = False
    tools_requiring_approval: list[str] = Field(default_factory=list)
    # Tools with side effects: their steps get SIDE_EFFECT_RETRY unless the plan says otherwise.
    side_effect_tools: list[str] = Field(default_factory=list)
    # Tools' own retry policies, for steps that name none.
    tool_retries: dict[str, RetrySpec] = Field(default_factory=dict)
    # A skill's inputs completed with their defaults (what `run.inputs.*` resolves against).
    inputs: dict[str, Any] | None = None
    # The skill the plan is (the one named, or the one the rule planner or the hybrid fallback
    # picked); None for a client's or the model's plan.
    skill: str | None = None
    # The run's versions with that skill's pins (activities/versions.py), where the planning
    # activity resolved them: the run then uses and records these. None: the run's own.
    versions: RunVersions | None = None


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
    budget: Budget | None = None
    # The step's retry limit, so an activity knows its last attempt (provider fallback).
    max_attempts: int = 0
    # The run's conversation: an llm step's prompt gets its summary and the user's facts.
    session_id: str | None = None
    # The run's LLM response cache mode (None: `auto`) and skill (the confidence histogram's).
    cache: CacheMode | None = None
    skill: str | None = None
    # The prompt versions and model the run was pinned to (aios/versions.py).
    versions: RunVersions | None = None
    # The caller's roles: a tenant's SQL sources and MCP servers may be restricted to some.
    roles: list[str] | None = None
    # Untrusted content is in the step's context (the taint rules): a tool that reaches outside
    # goes only to the tenant's allowed domains (aios/sources.py), unless a person approved
    # this call (`egress_approved`).
    tainted: bool = False
    egress_approved: bool = False
    # With `tainted`: the call may go to any host (a research step reads the open web by design),
    # and is checked only for the user's private data it would carry.
    egress_any_host: bool = False
    # A person said a call left in doubt (aios.sources.CallInDoubt) did not happen: send it again.
    resend_in_doubt: bool = False


class StepResult(BaseModel):
    output: Any = None
    # The output carries content from outside (documents, web pages, tool results): whatever a
    # model derives from it may not cause a side effect without approval.
    untrusted: bool = False
    findings: list[Finding] = Field(default_factory=list)
    attempt: int = 1
    usage: Usage = Field(default_factory=Usage)
    routing: list[RoutingNote] = Field(default_factory=list)
    # What the call's prompt cut to fit the model's window (None: nothing was cut).
    context_trim: ContextTrim | None = None


SideEffects = Literal["none", "reads", "writes"]


class ToolSpec(BaseModel):
    """A tool as the registry lists it (`GET /v1/tools`)."""

    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None = None
    # `writes`: changes something outside AIOS (retried with the side-effect policy, idempotency
    # key honoured, approval before an agent may call it); `reads`: looks outside; `none`: pure.
    side_effects: SideEffects = "none"
    requires_approval: bool = False
    # Roles allowed to use the tool; empty: every caller.
    roles: list[str] = Field(default_factory=list)
    timeout_s: float = 60.0


class IngestItem(BaseModel):
    """One document of an ingestion job: an uploaded body (by its sha256) or a URL to fetch."""

    document_id: str
    source: str
    title: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    name: str = ""  # a file name: its suffix chooses the loader
    content_type: str | None = None
    upload_sha256: str | None = None
    url: str | None = None


class SqlIngestSource(BaseModel):
    """Rows of a read-only query on a configured database (`AIOS_SQL_SOURCES`), one document
    each."""

    database: str = Field(min_length=1, max_length=100, description="a configured source name")
    query: str = Field(min_length=1, max_length=20_000)
    id_column: str | None = Field(default=None, description="the row's stable id (default: hash)")
    title_column: str | None = None
    text_columns: list[str] | None = Field(default=None, description="default: every column")


class IngestInput(BaseModel):
    tenant: str = "default"
    items: list[IngestItem] = Field(default_factory=list)
    sql: list[SqlIngestSource] = Field(default_factory=list)


class IngestBatchInput(BaseModel):
    tenant: str
    job_id: str
    items: list[IngestItem]


class SqlLoadInput(BaseModel):
    tenant: str
    source: SqlIngestSource


class IngestedDocument(BaseModel):
    document_id: str
    source: str
    title: str = ""
    chunks: int = 0
    unchanged: bool = False
    error: str | None = None


class IngestBatchResult(BaseModel):
    documents: list[IngestedDocument] = Field(default_factory=list)


IngestStatus = Literal["queued", "running", "completed", "failed"]
MAX_REPORTED_ERRORS = 100


class IngestProgress(BaseModel):
    """An ingestion job as `GET /v1/documents/jobs/{id}` shows it (also the workflow's result)."""

    status: IngestStatus = "queued"
    total: int = 0
    done: int = 0
    failed: int = 0
    unchanged: int = 0
    chunks: int = 0
    errors: list[str] = Field(default_factory=list)


class ChatSessionInput(BaseModel):
    session_id: str
    tenant: str = "default"
    user_id: str = "anonymous"
    roles: list[str] | None = None
    # Turns handled so far across continue-as-new (the conversation itself is in PostgreSQL).
    turns: int = 0
    # Continue as new after this many turns in one run, so the history stays small.
    turns_per_run: int = 50
    # group -> task queue (aios/queues.py): where the session's tool calls run.
    activity_queues: dict[str, str] = Field(default_factory=dict)
    # Untrusted content entered the conversation in an earlier run of the session (carried over
    # continue-as-new): its turns' calls that reach outside are checked from their start.
    tainted: bool = False


class ChatTurn(BaseModel):
    message: str = Field(min_length=1, max_length=8000)
    message_id: str = Field(min_length=1, max_length=200)


class ChatTurnInput(BaseModel):
    session_id: str
    tenant: str
    user_id: str
    turn: ChatTurn
    # The activity's retry limit, so it knows its last attempt (provider fallback).
    max_attempts: int = 0


class ChatToolUse(BaseModel):
    """One tool call a chat turn made, as the reply reports it."""

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    round: int = 1
    status: Literal["ok", "failed", "refused"] = "ok"
    error: str | None = None


class ChatReply(BaseModel):
    session_id: str
    reply: str
    citations: list[Citation] = Field(default_factory=list)
    grounded: bool = False
    turn: int = 0
    usage: Usage = Field(default_factory=Usage)
    # The tools the turn called on its way to the reply, in order.
    tools_used: list[ChatToolUse] = Field(default_factory=list)


class ChatStepInput(ChatTurnInput):
    """One model round of a chat turn: the model answers, or asks for tool calls that the
    session's workflow runs (as activities) before the next round."""

    roles: list[str] | None = None
    round: int = 1
    # In the last round no tools are offered: the model has to answer.
    max_rounds: int = 4
    # This turn's tool requests and their results so far (never stored in the conversation).
    conversation: list[Message] = Field(default_factory=list)


class ChatStepResult(BaseModel):
    # The reply, stored in the conversation; or None while the model asks for tools.
    reply: ChatReply | None = None
    # The model's message asking for tool calls.
    asks: Message | None = None
    # The tools this round offered: the workflow refuses a call to any other.
    offered: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    # Retrieved passages (content from outside) were in the round's prompt: the turn's calls of
    # tools that reach outside go only to the tenant's allowed domains.
    untrusted: bool = False
