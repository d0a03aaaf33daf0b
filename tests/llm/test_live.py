"""Opt-in checks against the real providers, skipped unless a key is given:

    AIOS_LIVE_OPENAI_API_KEY=sk-... AIOS_LIVE_ANTHROPIC_API_KEY=sk-ant-... \\
        pytest tests/llm/test_live.py

They call the providers through the same classes the worker uses: a plain answer, structured
output, and a tool call. They cost a fraction of a cent.
"""

from __future__ import annotations

import pytest

from activities.llm.anthropic_messages import AnthropicProvider
from activities.llm.base import LLMProvider, LLMRequest, Message, ToolSchema
from activities.llm.openai_compat import OpenAICompatProvider
from tests.conftest import LIVE_KEYS


def providers() -> list[tuple[str, LLMProvider | None, str]]:
    openai_key, anthropic_key = LIVE_KEYS["openai"], LIVE_KEYS["anthropic"]
    return [
        (
            "openai",
            OpenAICompatProvider(name="openai", api_key=openai_key) if openai_key else None,
            "gpt-4.1-mini",
        ),
        (
            "anthropic",
            AnthropicProvider(api_key=anthropic_key) if anthropic_key else None,
            "claude-haiku-4-5",
        ),
    ]


@pytest.mark.parametrize(("name", "provider", "model"), providers(), ids=lambda v: str(v)[:9])
async def test_a_real_provider_answers_structures_and_calls_tools(
    name: str, provider: LLMProvider | None, model: str
) -> None:
    if provider is None:
        pytest.skip(f"set AIOS_LIVE_{name.upper()}_API_KEY to run against the real {name} API")
    try:
        ask = [Message(role="user", content="Reply with the single word: pong")]
        plain = await provider.complete(LLMRequest(model=model, messages=ask, max_tokens=20))
        assert "pong" in plain.text.lower() and plain.usage.input_tokens > 0

        schema = {
            "type": "object",
            "properties": {"answer": {"type": "integer"}},
            "required": ["answer"],
            "additionalProperties": False,
        }
        sum_question = [Message(role="user", content="What is 2 + 3? Answer as JSON.")]
        shaped = await provider.complete(
            LLMRequest(model=model, messages=sum_question, max_tokens=50, output_schema=schema)
        )
        assert '"answer"' in shaped.text and "5" in shaped.text

        tool = ToolSchema(
            name="word_count",
            description="Count the words of a text.",
            input_schema={
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"],
            },
        )
        count = [Message(role="user", content="Use the tool to count the words of 'a b c'.")]
        called = await provider.complete(
            LLMRequest(model=model, messages=count, max_tokens=200, tools=[tool])
        )
        assert [c.name for c in called.tool_calls] == ["word_count"]
    finally:
        await provider.aclose()
