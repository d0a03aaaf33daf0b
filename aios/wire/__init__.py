"""The REST API's wire models: what a client sends and what it gets back. One definition, used by
the API's routes (which validate and document them) and by the Python client (which returns them
typed), so the two cannot drift. Class and field names are the OpenAPI document's: never rename
them.

This package's modules hold them by resource: `runs` (starting, listing, cancelling runs; their
files), `approvals`, `skills` (skills and tool calls), `chat`, `voice`, `reports`, `budgets`
(budgets and usage); what they share in `base`. Import them from here:
`from aios.wire import CreateRun`.

Models the workflows also use (`RunState`, `ApprovalAck`, `StepOutput`) live in `aios.models`;
the decision trace in `aios.trace`.
"""

from __future__ import annotations

from aios.wire.approvals import (
    ApprovalBody,
    Inbox,
    InboxItem,
)
from aios.wire.base import (
    SAFE_VALUE,
)
from aios.wire.budgets import (
    BudgetList,
    BudgetOut,
    EmbeddingCacheUsage,
    SetBudget,
    UsageGroup,
    UsageReport,
)
from aios.wire.chat import (
    ChatResponse,
    ChatSession,
    ChatSessionHeading,
    ChatSessionList,
    ChatSessionMessage,
)
from aios.wire.reports import (
    ReportLinks,
    ReportList,
    ReportOut,
    ReportSummary,
)
from aios.wire.runs import (
    CancelAccepted,
    CreateRun,
    RunCreated,
    RunFileList,
    RunFileOut,
    RunFilter,
    RunLinks,
    RunList,
    RunSummary,
)
from aios.wire.skills import (
    Invoke,
    Invoked,
    SkillList,
    StartSkill,
    ToolList,
)
from aios.wire.voice import (
    Transcript,
    TranscriptSegment,
)

# What `from aios.wire import ...` finds: every wire model of the package's modules.
__all__ = [
    "SAFE_VALUE",
    "ApprovalBody",
    "BudgetList",
    "BudgetOut",
    "CancelAccepted",
    "ChatResponse",
    "ChatSession",
    "ChatSessionHeading",
    "ChatSessionList",
    "ChatSessionMessage",
    "CreateRun",
    "EmbeddingCacheUsage",
    "Inbox",
    "InboxItem",
    "Invoke",
    "Invoked",
    "ReportLinks",
    "ReportList",
    "ReportOut",
    "ReportSummary",
    "RunCreated",
    "RunFileList",
    "RunFileOut",
    "RunFilter",
    "RunLinks",
    "RunList",
    "RunSummary",
    "SetBudget",
    "SkillList",
    "StartSkill",
    "ToolList",
    "Transcript",
    "TranscriptSegment",
    "UsageGroup",
    "UsageReport",
]
