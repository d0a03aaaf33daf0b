"""Names that cross a boundary, each defined once.

Workflows, activities, the API, the Python client and the CLI all speak of activities, step kinds,
planners, statuses, run events and failure types. Each of those names is a `StrEnum` member here,
so a rename is one edit and a typo is a type error rather than a silent mismatch between processes.
Members are plain strings on the wire (JSON, Temporal payloads, search attributes), so recorded
histories and existing clients keep working.
"""

from enum import StrEnum


class Activity(StrEnum):
    """Activity names: workflows call them, activity classes define them."""

    PLAN_RUN = "aios.plan_run"
    INVOKE_TOOL = "aios.invoke_tool"
    LLM_COMPLETE = "aios.llm_complete"
    AGENT_TURN = "aios.agent_turn"
    RETRIEVE = "aios.retrieve"
    INGEST_BATCH = "aios.ingest_batch"
    LOAD_SQL_SOURCE = "aios.load_sql_source"
    MEMORY = "aios.memory"
    CHAT_TURN = "aios.chat_turn"
    CHAT_STEP = "aios.chat_step"
    RECORD_TRACE = "aios.record_trace"
    USE_STANDING_APPROVAL = "aios.use_standing_approval"
    NOTIFY_APPROVAL = "aios.notify_approval"
    SIGNAL_SENDER = "aios.signal_sender"
    APPROVAL_POLICY = "aios.approval_policy"
    EVAL_PENDING = "aios.eval_pending"
    EVAL_ROW_INPUT = "aios.eval_row_input"
    EVAL_SCORE = "aios.eval_score"
    EVAL_FINISH = "aios.eval_finish"
    SLACK_POST = "aios.slack_post"
    SLACK_CHAT = "aios.slack_chat"
    SLACK_WATCH_RUN = "aios.slack_watch_run"
    RESEARCH_NOTES = "aios.research_notes"


class StepKind(StrEnum):
    """What a plan step does. Which kinds can run today is `aios.plan.EXECUTABLE_KINDS`."""

    TOOL = "tool"
    LLM = "llm"
    SKILL = "skill"
    RETRIEVE = "retrieve"
    AGENT = "agent"
    MEMORY = "memory"
    APPROVAL = "approval"
    # A deep-research loop (workflows/run/research_step.py): questions, searches, pages read,
    # notes with verbatim quotes, follow-up questions until a limit or saturation.
    RESEARCH = "research"


class PlannerName(StrEnum):
    LLM = "llm"
    RULE = "rule"
    HYBRID = "hybrid"


# Planners this build implements; the API refuses the others before a run starts and the planning
# activity refuses them too (a workflow started directly through Temporal).
IMPLEMENTED_PLANNERS: frozenset[PlannerName] = frozenset(PlannerName)


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


TERMINAL_STATUSES: frozenset[RunStatus] = frozenset(
    {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.TIMED_OUT}
)


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


FINISHED_STEP_STATUSES: frozenset[StepStatus] = frozenset(
    {StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED}
)


class RunEventType(StrEnum):
    """Types of the run's progress log (`GET /v1/runs/{id}/events`)."""

    RUN_STARTED = "run.started"
    PLAN_READY = "plan.ready"
    STEP_STARTED = "step.started"
    STEP_FINISHED = "step.finished"
    STEP_FAILED = "step.failed"
    STEP_SKIPPED = "step.skipped"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_ANSWERED = "approval.answered"
    APPROVAL_EXPIRED = "approval.expired"
    APPROVAL_SIGNAL_IGNORED = "approval.signal_ignored"
    # A standing approval let the action through without waiting (aios/standing.py).
    APPROVAL_STANDING = "approval.standing"
    # An unanswered approval went to the next group of its escalation chain.
    APPROVAL_ESCALATED = "approval.escalated"
    USAGE = "usage"
    AGENT_TURN = "agent.turn"
    AGENT_TOOL_CALL = "agent.tool_call"
    MODEL_ROUTED = "model.routed"
    PLAN_REVISED = "plan.revised"
    LLM_DELTA = "llm.delta"
    # A guardrail decision: what was found (rule, kind), where, and what was done about it.
    GUARDRAIL = "guardrail"
    # An answer step's confidence (aios/quality.py): its score, parts and reasons.
    ANSWER_CONFIDENCE = "answer.confidence"
    # A research step's progress: its questions, the sources it read or skipped, its notes.
    RESEARCH_PROGRESS = "research.progress"
    # A prompt's documents cut to fit the model's window: which, and how much (ContextTrim).
    CONTEXT_TRIMMED = "context.trimmed"
    RUN_FINISHED = "run.finished"


class FailureType(StrEnum):
    """`ApplicationError.type` values raised by workflows and matched by their callers.

    Errors raised by activities use the class name of the `aios.errors` class instead (see
    `aios.errors.to_application_error`).
    """

    UNKNOWN_APPROVAL = "UnknownApproval"
    APPROVAL_ALREADY_ANSWERED = "ApprovalAlreadyAnswered"
    APPROVER_NOT_NAMED = "ApproverNotNamed"
    NOT_AN_APPROVER = "NotAnApprover"
    ARGS_HASH_MISMATCH = "ArgsHashMismatch"
    # An edited answer sent to an approval that is not an answer review, or with a rejection.
    ANSWER_EDIT_REFUSED = "AnswerEditRefused"
    RUN_NOT_STARTED = "RunNotStarted"
    RUN_FAILED = "RunFailed"
    RUN_TIMED_OUT = "RunTimedOut"
    # Raised by model-calling activities before a call that would exceed the run's budget.
    BUDGET_EXCEEDED = "BudgetExceeded"


class Provider(StrEnum):
    """LLM providers this build can talk to (the `provider` of `provider:model` settings)."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    LOCAL = "local"


# File types the knowledge base can ingest (by suffix); anything else is refused with this list.
INGESTIBLE_SUFFIXES: frozenset[str] = frozenset(
    {".txt", ".text", ".md", ".markdown", ".rst", ".html", ".htm", ".pdf", ".json", ".csv"}
)


class Role(StrEnum):
    """What a caller may do inside its tenant (keys and JWT claims carry roles). `admin` implies
    every other role. Tools may name finer roles of their own (`ToolSpec.roles`)."""

    USER = "user"  # their own runs, schedules, memory and chat sessions
    APPROVER = "approver"  # answers approvals (never their own request: four eyes)
    OPERATOR = "operator"  # sees and cancels every run of the tenant; metrics
    ADMIN = "admin"  # keys, tenants, policies; implies all of the above


BUILTIN_ROLES: frozenset[str] = frozenset(Role)
