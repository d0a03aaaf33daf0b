"""The LLM layer: one provider interface, one module per provider, and the `llm` step activity."""

from activities.llm.base import LLMProvider, LLMRequest, LLMResponse, Message

__all__ = ["LLMProvider", "LLMRequest", "LLMResponse", "Message"]
