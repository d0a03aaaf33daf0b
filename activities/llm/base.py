"""The provider interface every LLM backend implements, and the shapes of a conversation.

A conversation is a list of `Message`s: system, user and assistant text, assistant turns that ask
for tool calls, and tool results answering them. Each provider maps this onto its own wire format
(OpenAI chat completions, Anthropic messages); nothing above this layer knows the difference.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, Field

from aios.errors import AiosError, ContextOverflow, ProviderRejected, TransientError
from aios.models import Message, ToolCall, ToolSchema, Usage

__all__ = [
    "DeltaSink",
    "LLMProvider",
    "LLMRequest",
    "LLMResponse",
    "Message",
    "ToolCall",
    "ToolSchema",
    "retry_after_seconds",
    "status_error",
]


class LLMRequest(BaseModel):
    model: str  # the provider's own model name (no provider prefix)
    messages: list[Message]
    max_tokens: int = 512
    temperature: float = 0.2
    # Discourages repeating the same tokens (small local models loop without it).
    frequency_penalty: float | None = None
    # JSON schema the answer must satisfy; providers enforce it natively where they can.
    output_schema: dict[str, Any] | None = None
    # Strict schemas (every object closed, every property required) are enforced exactly by
    # OpenAI; free-form schemas (e.g. a plan's arbitrary `args`) are sent as guidance instead.
    strict_schema: bool = True
    tools: list[ToolSchema] = Field(default_factory=list)
    # Ask for the answer's token log-probabilities (providers that cannot give them ignore it).
    logprobs: bool = False


class LLMResponse(BaseModel):
    text: str
    model: str
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    # The mean log-probability of the answer's tokens, when asked for and given.
    mean_logprob: float | None = None


# Called with each piece of text as the model writes it (streaming).
DeltaSink = Callable[[str], Awaitable[None]]


class LLMProvider(ABC):
    """One LLM vendor. Implementations raise `TransientError` for what a retry may fix (408, 409,
    429, 5xx, timeouts, connection loss — honouring retry-after) and `ProviderRejected` for what
    it will not (other 4xx, context too long, a refusal). They never retry themselves: Temporal's
    retry policy is the only one."""

    name: str
    # Tokens one request may use (prompt + answer) on this provider's default model.
    context_window: int = 8192

    @abstractmethod
    async def complete(self, request: LLMRequest, on_delta: DeltaSink | None = None) -> LLMResponse:
        """One model call. With `on_delta`, the answer is streamed and each text delta is passed
        to it as it arrives; the returned response is the whole answer either way."""

    async def count_tokens(self, texts: list[str]) -> list[int] | None:
        """Exact token counts of `texts` for this provider's model, or None when no tokenizer is
        available offline (callers then estimate, see `activities.context.estimate_tokens`)."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


# Statuses a retry may fix, besides every 5xx (Anthropic's 529 "overloaded" among them).
RETRYABLE_STATUS = frozenset({408, 409, 429})
# How each provider says a request does not fit the model's window: llama.cpp ("exceeds the
# available context size"), OpenAI (`context_length_exceeded`, "maximum context length"),
# Anthropic ("prompt is too long").
_CONTEXT_OVERFLOW = re.compile(
    r"exceeds the available context size|context_length_exceeded|maximum context length"
    r"|prompt is too long|too many tokens",
    re.IGNORECASE,
)


def status_error(provider: str, status: int, message: str, headers: Any) -> AiosError:
    """The one classification of a provider's HTTP error: retryable (with the server's
    `retry-after`) or a rejection a retry cannot fix."""
    detail = f"{provider} answered {status}: {message}"
    if status in RETRYABLE_STATUS or status >= 500:
        return TransientError(detail, retry_after=retry_after_seconds(headers))
    if status in (400, 413) and _CONTEXT_OVERFLOW.search(message):
        return ContextOverflow(detail)
    return ProviderRejected(detail)


def retry_after_seconds(headers: Any) -> float | None:
    """A provider's `retry-after` header in seconds (absent or unparseable: None)."""
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
