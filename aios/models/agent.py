"""The `agent` and `skill` steps: their arguments as a plan writes them, and one turn of an agent's
tool-using loop (what the workflow sends the activity, what comes back, what the run records).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aios.models.llm import Budget, CacheMode, ContextTrim, Message, RoutingNote, Usage
from aios.versions import RunVersions


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
