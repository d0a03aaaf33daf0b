"""Pydantic models that cross process and workflow boundaries, by concern.

One `XxxInput` / `XxxResult` per workflow, activity, signal and update, so fields can be added later
without breaking recorded histories (new fields always get defaults). Class and field names are
part of those histories and of the API's OpenAPI document: never rename them.

This package's modules hold them by concern: `llm` (conversations with models, usage, budgets),
`retrieval` (passages and citations), `agent` (the agent and skill steps), `steps` (planning, a
step's input and result, tool specs), `approvals`, `run` (the agent run's input, state and events),
`ingest`, `chat`. Import them from here: `from aios.models import RunState`.
"""

from __future__ import annotations

from aios.models.agent import (
    AgentStepArgs,
    AgentToolCallRecord,
    AgentTurnInput,
    AgentTurnRecord,
    AgentTurnResult,
    SkillStepArgs,
)
from aios.models.approvals import (
    ApprovalAck,
    ApprovalContext,
    ApprovalDecision,
    ChildApprovals,
    PendingApproval,
)
from aios.models.chat import (
    ChatReply,
    ChatSessionInput,
    ChatStepInput,
    ChatStepResult,
    ChatToolUse,
    ChatTurn,
    ChatTurnInput,
)
from aios.models.ingest import (
    MAX_REPORTED_ERRORS,
    IngestBatchInput,
    IngestBatchResult,
    IngestedDocument,
    IngestInput,
    IngestItem,
    IngestProgress,
    IngestStatus,
    SqlIngestSource,
    SqlLoadInput,
)
from aios.models.llm import (
    Budget,
    CacheMode,
    ContextTrim,
    Message,
    RoutingNote,
    RunCap,
    ToolCall,
    ToolSchema,
    TrimmedDocument,
    Usage,
)
from aios.models.retrieval import (
    SNIPPET_CHARS,
    Citation,
    Passage,
    Quote,
    RetrieveOutput,
    SourcePassages,
    snippet_of,
)
from aios.models.run import (
    AgentRunInput,
    CancelRequest,
    EventsQuery,
    RunEvent,
    RunResult,
    RunState,
    StepOutput,
    StepOutputQuery,
    StepState,
)
from aios.models.steps import (
    PlanningInput,
    PlanningResult,
    SideEffects,
    StepInput,
    StepResult,
    ToolSpec,
)

# What `from aios.models import ...` finds: every model of the package's modules.
__all__ = [
    "MAX_REPORTED_ERRORS",
    "SNIPPET_CHARS",
    "AgentRunInput",
    "AgentStepArgs",
    "AgentToolCallRecord",
    "AgentTurnInput",
    "AgentTurnRecord",
    "AgentTurnResult",
    "ApprovalAck",
    "ApprovalContext",
    "ApprovalDecision",
    "Budget",
    "CacheMode",
    "CancelRequest",
    "ChatReply",
    "ChatSessionInput",
    "ChatStepInput",
    "ChatStepResult",
    "ChatToolUse",
    "ChatTurn",
    "ChatTurnInput",
    "ChildApprovals",
    "Citation",
    "ContextTrim",
    "EventsQuery",
    "IngestBatchInput",
    "IngestBatchResult",
    "IngestInput",
    "IngestItem",
    "IngestProgress",
    "IngestStatus",
    "IngestedDocument",
    "Message",
    "Passage",
    "PendingApproval",
    "PlanningInput",
    "PlanningResult",
    "Quote",
    "RetrieveOutput",
    "RoutingNote",
    "RunCap",
    "RunEvent",
    "RunResult",
    "RunState",
    "SideEffects",
    "SkillStepArgs",
    "SourcePassages",
    "SqlIngestSource",
    "SqlLoadInput",
    "StepInput",
    "StepOutput",
    "StepOutputQuery",
    "StepResult",
    "StepState",
    "ToolCall",
    "ToolSchema",
    "ToolSpec",
    "TrimmedDocument",
    "Usage",
    "snippet_of",
]
