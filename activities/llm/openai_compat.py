"""OpenAI and every OpenAI-compatible server (the bundled local model, vLLM, llama.cpp, ...)."""

from __future__ import annotations

from typing import Any

import openai

from activities.llm.base import LLMProvider, LLMRequest, LLMResponse
from activities.llm.pricing import cost_usd
from aios.errors import ProviderRejected, TransientError
from aios.models import Usage

RETRYABLE_STATUS = frozenset({408, 409, 429})


def _retry_after(response: object) -> float | None:
    headers = getattr(response, "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class OpenAICompatProvider(LLMProvider):
    def __init__(
        self,
        *,
        name: str,
        api_key: str,
        base_url: str | None = None,
        context_window: int = 128_000,
        timeout_s: float = 600.0,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        # Server-specific request fields (e.g. llama.cpp sampling options).
        self._extra_body = extra_body
        self.context_window = context_window
        # max_retries=0: Temporal's retry policy is the only one.
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s
        )

    async def complete(self, request: LLMRequest) -> LLMResponse:
        params: dict[str, Any] = {
            "model": request.model,
            "messages": [m.model_dump() for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if self._extra_body:
            params["extra_body"] = self._extra_body
        if request.frequency_penalty is not None:
            params["frequency_penalty"] = request.frequency_penalty
        if request.output_schema is not None:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": request.output_schema, "strict": True},
            }
        try:
            completion = await self._client.chat.completions.create(**params)
        except openai.APIStatusError as e:
            status = e.status_code
            message = f"{self.name} answered {status}: {e.message}"
            if status in RETRYABLE_STATUS or status >= 500:
                raise TransientError(message, retry_after=_retry_after(e.response)) from e
            raise ProviderRejected(message) from e
        except (openai.APITimeoutError, openai.APIConnectionError) as e:
            raise TransientError(f"{self.name} could not be reached: {e}") from e
        choice = completion.choices[0] if completion.choices else None
        text = (choice.message.content if choice and choice.message else None) or ""
        usage = completion.usage
        input_tokens = usage.prompt_tokens if usage else 0
        output_tokens = usage.completion_tokens if usage else 0
        cost = cost_usd(self.name, request.model, input_tokens, output_tokens)
        return LLMResponse(
            text=text,
            model=completion.model or request.model,
            usage=Usage(
                input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=cost or 0.0
            ),
            finish_reason=choice.finish_reason if choice else None,
        )

    async def aclose(self) -> None:
        await self._client.close()
