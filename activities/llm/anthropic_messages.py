"""Anthropic's Messages API, through the `anthropic` SDK.

Mapping from the shared conversation: system messages become the `system` field; an assistant turn
that asks for tools becomes `tool_use` blocks; tool results become `tool_result` blocks in a user
message (consecutive results share one). Structured output uses the API's native JSON-schema
output format.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2

from activities.llm.base import (
    DeltaSink,
    LLMProvider,
    LLMRequest,
    LLMResponse,
    Message,
    ToolCall,
    status_error,
)
from activities.llm.pricing import PriceTable
from aios.errors import AnswerLost, ModelRefused, TransientError
from aios.models import Usage
from aios.vocabulary import Provider


def _wire_messages(messages: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    wire: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.content,
            }
            last = wire[-1] if wire else None
            if last and last["role"] == "user" and isinstance(last["content"], list):
                last["content"].append(block)
            else:
                wire.append({"role": "user", "content": [block]})
            continue
        if message.role == "assistant" and message.tool_calls:
            blocks: list[dict[str, Any]] = []
            if message.content:
                blocks.append({"type": "text", "text": message.content})
            blocks += [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                for c in message.tool_calls
            ]
            wire.append({"role": "assistant", "content": blocks})
            continue
        wire.append({"role": message.role, "content": message.content})
    return system, wire


class AnthropicProvider(LLMProvider):
    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        context_window: int = 200_000,
        timeout_s: float = 600.0,
        prices: PriceTable | None = None,
    ) -> None:
        self.name = Provider.ANTHROPIC
        self.context_window = context_window
        self._prices = prices or PriceTable()
        # max_retries=0: Temporal's retry policy is the only one.
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s
        )

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        system, messages = _wire_messages(request.messages)
        # No sampling parameters: the Messages API of this SDK generation has none
        # (`temperature` is not accepted), so `request.temperature` does not apply here.
        params: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "max_tokens": request.max_tokens,
        }
        if system:
            params["system"] = system
        if request.output_schema is not None:
            params["output_config"] = {
                "format": {"type": "json_schema", "schema": request.output_schema}
            }
        if request.tools:
            params["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.input_schema}
                for t in request.tools
            ]
        return params

    async def complete(self, request: LLMRequest, on_delta: DeltaSink | None = None) -> LLMResponse:
        params = self._params(request)
        try:
            if on_delta is None:
                message = await self._client.messages.create(**params)
            else:
                async with self._client.messages.stream(**params) as stream:
                    try:
                        async for text in stream.text_stream:
                            await on_delta(text)
                        message = await stream.get_final_message()
                    except (anthropic.APIConnectionError, httpx2.TransportError) as e:
                        # Answered, then the connection broke or went quiet: not "unreachable".
                        raise AnswerLost(f"{self.name} broke off its answer mid-stream: {e}") from e
        except anthropic.APIStatusError as e:
            raise status_error(self.name, e.status_code, e.message, e.response.headers) from e
        except (anthropic.APITimeoutError, httpx2.ReadTimeout) as e:  # sent, perhaps billed
            raise AnswerLost(f"{self.name} did not answer in time: {e}") from e
        except (anthropic.APIConnectionError, httpx2.TransportError) as e:
            raise TransientError(f"{self.name} could not be reached: {e}") from e
        if message.stop_reason == "refusal":
            raise ModelRefused(f"{self.name}:{request.model} refused to answer")
        text = "".join(block.text for block in message.content if block.type == "text")
        calls = [
            ToolCall(id=block.id, name=block.name, arguments=dict(block.input or {}))
            for block in message.content
            if block.type == "tool_use"
        ]
        usage = message.usage
        cost = self._prices.cost_usd(
            self.name, request.model, usage.input_tokens, usage.output_tokens
        )
        return LLMResponse(
            text=text,
            model=message.model or request.model,
            usage=Usage(
                input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, cost_usd=cost
            ),
            finish_reason=message.stop_reason,
            tool_calls=calls,
        )

    async def aclose(self) -> None:
        await self._client.close()
