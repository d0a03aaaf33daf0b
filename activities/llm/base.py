"""The provider interface every LLM backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal

from pydantic import BaseModel, Field

from aios.models import Usage


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class LLMRequest(BaseModel):
    model: str  # the provider's own model name (no provider prefix)
    messages: list[Message]
    max_tokens: int = 512
    temperature: float = 0.2
    # Discourages repeating the same tokens (small local models loop without it).
    frequency_penalty: float | None = None
    # JSON schema the answer must satisfy; providers enforce it natively where they can.
    output_schema: dict[str, Any] | None = None


class LLMResponse(BaseModel):
    text: str
    model: str
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None


class LLMProvider(ABC):
    """One LLM vendor. Implementations raise `TransientError` for what a retry may fix (408, 409,
    429, 5xx, timeouts, connection loss — honouring retry-after) and `ProviderRejected` for what
    it will not. They never retry themselves: Temporal's retry policy is the only one."""

    name: str
    # Tokens one request may use (prompt + answer) on this provider's default model.
    context_window: int = 8192

    @abstractmethod
    async def complete(self, request: LLMRequest) -> LLMResponse: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
