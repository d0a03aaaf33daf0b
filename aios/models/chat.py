"""Chat sessions: the session workflow's input, a user's turn, one model round of it (the model
answers or asks for tools the workflow runs) and the reply.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from aios.models.llm import Message, Usage
from aios.models.retrieval import Citation


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
