"""What model calls exchange and what they cost: the messages of a conversation with a model and
the tool calls in it, a call's usage and the budget it draws on, where a call was routed and what
its prompt left out to fit the window.

Shared by the agent step, chat, planning and the providers (activities/llm/), so they live below
all of them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


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


class RunCap(BaseModel):
    """A run's own budget as the spend ledger (aios/stores/ledger/) enforces it."""

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
