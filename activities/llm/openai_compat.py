"""OpenAI and every OpenAI-compatible server (the bundled local model, vLLM, llama.cpp, ...)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

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
from aios.errors import AnswerLost, BadModelOutput, ModelRefused, TransientError
from aios.models import Usage

# The request options `chat.completions.create` passes along with the body: bearer-key auth.
_AS_CREATE_DOES: openai.RequestOptions = {"security": {"bearer_auth": True}}


def _wire_message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
    return wire


def _parse_arguments(provider: str, name: str, raw: str | None) -> dict[str, Any]:
    try:
        parsed = json.loads(raw or "{}")
    except json.JSONDecodeError as e:
        raise BadModelOutput(
            f"{provider} asked for tool {name!r} with arguments that are not JSON ({e})"
        ) from None
    if not isinstance(parsed, dict):
        raise BadModelOutput(f"{provider} asked for tool {name!r} with non-object arguments")
    return parsed


@dataclass
class _StreamedAnswer:
    """A streamed completion, put together chunk by chunk."""

    model: str
    text: list[str] = field(default_factory=list)
    # Tool calls by their index in the stream: id, name and arguments arrive in pieces.
    calls: dict[int, dict[str, str]] = field(default_factory=dict)
    finish_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    logprobs: list[float] = field(default_factory=list)

    def add(self, chunk: ChatCompletionChunk) -> str:
        """Take in one chunk; returns the text it adds."""
        self.model = chunk.model or self.model
        if chunk.usage is not None:
            self.input_tokens = chunk.usage.prompt_tokens
            self.output_tokens = chunk.usage.completion_tokens
        added = ""
        for choice in chunk.choices:
            self.finish_reason = choice.finish_reason or self.finish_reason
            if choice.logprobs is not None and choice.logprobs.content:
                self.logprobs += [t.logprob for t in choice.logprobs.content]
            delta = choice.delta
            if delta.content:
                self.text.append(delta.content)
                added += delta.content
            for piece in delta.tool_calls or []:
                call = self.calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = piece.id or call["id"]
                if piece.function is not None:
                    call["name"] += piece.function.name or ""
                    call["arguments"] += piece.function.arguments or ""
        return added


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
        prices: PriceTable | None = None,
        tokenize_url: str | None = None,
    ) -> None:
        self.name = name
        # Server-specific request fields (e.g. llama.cpp sampling options).
        self._extra_body = extra_body
        self.context_window = context_window
        self._prices = prices or PriceTable()
        # llama.cpp's `/tokenize`: exact counts for the bundled model, offline.
        self._tokenize_url = tokenize_url
        self._http = httpx.AsyncClient(timeout=10.0) if tokenize_url else None
        # max_retries=0: Temporal's retry policy is the only one.
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s
        )

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "messages": [_wire_message(m) for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.frequency_penalty is not None:
            params["frequency_penalty"] = request.frequency_penalty
        if request.logprobs:
            params["logprobs"] = True
        if request.output_schema is not None:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": "output",
                    "schema": request.output_schema,
                    "strict": request.strict_schema,
                },
            }
        if request.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.input_schema,
                    },
                }
                for t in request.tools
            ]
        if self._extra_body:
            params.update(self._extra_body)
        return params

    async def _post(self, body: dict[str, Any]) -> ChatCompletion:
        """`POST /chat/completions` with a body already in wire form. `chat.completions.create`
        would first walk the body against the SDK's typed parameters (`async_maybe_transform`),
        which changes nothing in plain JSON and was about a sixth of each call's CPU in the
        throughput benchmark (bench/README.md). Same request, headers, auth, errors, parsing."""
        completion: ChatCompletion = await self._client.post(
            "/chat/completions",
            body=body,
            cast_to=ChatCompletion,
            options=_AS_CREATE_DOES,
        )
        return completion

    async def _post_stream(self, body: dict[str, Any]) -> openai.AsyncStream[ChatCompletionChunk]:
        """The same, streamed (server-sent events, parsed by the SDK)."""
        stream: openai.AsyncStream[ChatCompletionChunk] = await self._client.post(
            "/chat/completions",
            body={**body, "stream": True, "stream_options": {"include_usage": True}},
            cast_to=ChatCompletion,
            options=_AS_CREATE_DOES,
            stream=True,
            stream_cls=openai.AsyncStream[ChatCompletionChunk],
        )
        return stream

    async def complete(self, request: LLMRequest, on_delta: DeltaSink | None = None) -> LLMResponse:
        params = self._params(request)
        try:
            if on_delta is not None:
                return await self._stream(request, params, on_delta)
            completion = await self._post(params)
        except openai.APIStatusError as e:
            raise status_error(self.name, e.status_code, e.message, e.response.headers) from e
        except openai.APITimeoutError as e:  # sent, perhaps billed, never answered
            raise AnswerLost(f"{self.name} did not answer in time: {e}") from e
        except openai.APIConnectionError as e:
            raise TransientError(f"{self.name} could not be reached: {e}") from e
        choice = completion.choices[0] if completion.choices else None
        message = choice.message if choice else None
        calls = [
            ToolCall(
                id=call.id,
                name=call.function.name,
                arguments=_parse_arguments(self.name, call.function.name, call.function.arguments),
            )
            for call in (message.tool_calls or [] if message else [])
            if call.type == "function"
        ]
        usage = completion.usage
        return self._response(
            request,
            text=(message.content if message else None) or "",
            model=completion.model,
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            finish_reason=choice.finish_reason if choice else None,
            tool_calls=calls,
            logprobs=[t.logprob for t in choice.logprobs.content]
            if choice is not None and choice.logprobs is not None and choice.logprobs.content
            else [],
        )

    async def _stream(
        self, request: LLMRequest, params: dict[str, Any], on_delta: DeltaSink
    ) -> LLMResponse:
        answer = _StreamedAnswer(model=request.model)
        stream = await self._post_stream(params)
        try:
            async for chunk in stream:
                if content := answer.add(chunk):
                    await on_delta(content)
        except openai.APIConnectionError as e:
            # The server answered, then the connection broke or went quiet: not "unreachable".
            raise AnswerLost(f"{self.name} broke off its answer mid-stream: {e}") from e
        if answer.finish_reason is None:
            raise AnswerLost(f"{self.name} ended the stream before the answer was complete")
        return self._response(
            request,
            text="".join(answer.text),
            model=answer.model,
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
            finish_reason=answer.finish_reason,
            logprobs=answer.logprobs,
            tool_calls=[
                ToolCall(
                    id=c["id"] or f"call_{i}",
                    name=c["name"],
                    arguments=_parse_arguments(self.name, c["name"], c["arguments"]),
                )
                for i, c in sorted(answer.calls.items())
            ],
        )

    def _response(
        self,
        request: LLMRequest,
        *,
        text: str,
        model: str | None,
        input_tokens: int,
        output_tokens: int,
        finish_reason: str | None,
        tool_calls: list[ToolCall],
        logprobs: list[float] | None = None,
    ) -> LLMResponse:
        if finish_reason == "content_filter":
            raise ModelRefused(f"{self.name}:{request.model} refused to answer (content filter)")
        cost = self._prices.cost_usd(self.name, request.model, input_tokens, output_tokens)
        return LLMResponse(
            text=text,
            model=model or request.model,
            usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=cost),
            finish_reason=finish_reason,
            tool_calls=tool_calls,
            mean_logprob=sum(logprobs) / len(logprobs) if logprobs else None,
        )

    async def count_tokens(self, texts: list[str]) -> list[int] | None:
        if self._http is None or self._tokenize_url is None:
            return None
        try:
            counts = []
            for text in texts:
                response = await self._http.post(self._tokenize_url, json={"content": text})
                response.raise_for_status()
                counts.append(len(response.json()["tokens"]))
            return counts
        except (httpx.HTTPError, KeyError, ValueError):
            return None  # the server cannot count: estimate instead

    async def aclose(self) -> None:
        await self._client.close()
        if self._http is not None:
            await self._http.aclose()
