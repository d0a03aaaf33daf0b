"""Scripted servers that speak the OpenAI Chat Completions and the Anthropic Messages HTTP
protocols, so tests exercise the real `openai` and `anthropic` clients without a paid API.

By default each answers like a cooperative model: JSON that fits the requested schema when one is
asked for, otherwise a sentence that cites document [1]. Tests queue exact replies (text, tool
calls, an error status with headers, a delay) for the next calls and read every request received.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.processes import free_port

DEFAULT_JSON = '{"key_points": ["AIOS runs every agent run as a Temporal workflow."]}'
DEFAULT_TEXT = "Runs are Temporal workflows, so they survive crashes [1]."


@dataclass
class ScriptedReply:
    status: int = 200
    content: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    # [{"name": tool, "arguments": {...}}]: the model asks for these tool calls.
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    # When the client streams: the pause between words.
    chunk_delay_s: float = 0.01
    # When the client streams: close the connection after this many words (no finish, no [DONE]).
    cut_after_words: int | None = None
    # Sent as the body of a 200 answer instead of the protocol's JSON (a broken proxy, say).
    raw_body: str | None = None


# A prompt that contains `[latency_ms=N]` is answered after N ms (benchmarks choose the model's
# latency per request with it; the same server then serves every variant being compared).
LATENCY_MARKER = re.compile(r"\[latency_ms=(\d+)\]")


def requested_latency_s(body: dict[str, Any]) -> float:
    found = LATENCY_MARKER.search(json.dumps(body.get("messages", [])))
    return int(found.group(1)) / 1000 if found else 0.0


class ScriptedServer:
    path = ""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._script: list[ScriptedReply] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self.tokenized: list[str] = []
        # What an unscripted request gets.
        self.default_reply = ScriptedReply()
        app = Starlette(routes=self.routes())
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{type(self).__name__} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)

    def routes(self) -> list[Route]:
        return [Route(self.path, self._handle, methods=["POST"])]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.tokenized.clear()
            self._script.clear()
            # A test that changed what unscripted requests get leaves the next one the default.
            self.default_reply = ScriptedReply()

    def queue(self, *replies: ScriptedReply) -> None:
        with self._lock:
            self._script.extend(replies)

    async def _handle(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self.requests.append(body)
            scripted = self._script.pop(0) if self._script else self.default_reply
        delay_s = scripted.delay_s + requested_latency_s(body)
        if delay_s:
            await asyncio.sleep(delay_s)
        if scripted.status != 200:
            return self.error(scripted)
        if scripted.raw_body is not None:
            return Response(scripted.raw_body, media_type="application/json")
        return self.answer(body, scripted)

    def error(self, scripted: ScriptedReply) -> Response:
        raise NotImplementedError

    def answer(self, body: dict[str, Any], scripted: ScriptedReply) -> Response:
        raise NotImplementedError


class FakeOpenAI(ScriptedServer):
    """Also llama.cpp's `/tokenize`, as the bundled local server has it (one token a word, or
    one per `chars_per_token` characters when that is set, as a BPE tokenizer counts JSON).

    With `context_window` set it is a llama.cpp slot of that many tokens: a chat request whose
    prompt (its messages, counted as `/tokenize` counts) does not fit is answered 400 with
    llama.cpp's "exceeds the available context size", and recorded without using the script."""

    path = "/v1/chat/completions"

    def __init__(self) -> None:
        super().__init__()
        self.context_window: int | None = None
        self.chars_per_token: int | None = None
        # Speech to text: the texts the next transcriptions answer, and the requests received
        # (their form fields, with the file as name, media type and size).
        self.transcripts: list[str] = []
        self.transcription_requests: list[dict[str, Any]] = []
        # Embeddings: the inputs of each request received.
        self.embedding_requests: list[list[str]] = []

    def reset(self) -> None:
        super().reset()
        self.context_window = None
        self.chars_per_token = None
        self.transcripts.clear()
        self.transcription_requests.clear()
        self.embedding_requests.clear()

    def count_tokens(self, text: str) -> int:
        if self.chars_per_token:
            return -(-len(text) // self.chars_per_token)
        return len(text.split())

    def prompt_tokens(self, body: dict[str, Any]) -> int:
        """The tokens of a chat request's messages, as this server counts them."""
        total = 0
        for message in body.get("messages", []):
            content = message.get("content") or ""
            if isinstance(content, list):  # content parts
                content = " ".join(str(part.get("text", "")) for part in content)
            total += self.count_tokens(str(content))
        return total

    async def _handle(self, request: Request) -> Response:
        window = self.context_window
        if window is not None:
            body = await request.json()
            used = self.prompt_tokens(body)
            if used > window:
                with self._lock:
                    self.requests.append(body)
                message = (
                    f"request ({used} tokens) exceeds the available context size "
                    f"({window} tokens), try increasing it"
                )
                return JSONResponse(
                    {
                        "error": {
                            "code": 400,
                            "message": message,
                            "type": "exceed_context_size_error",
                        }
                    },
                    status_code=400,
                )
        return await super()._handle(request)

    def routes(self) -> list[Route]:
        return [
            *super().routes(),
            Route("/tokenize", self._tokenize, methods=["POST"]),
            Route("/v1/embeddings", self._embeddings, methods=["POST"]),
            Route("/v1/audio/transcriptions", self._transcriptions, methods=["POST"]),
        ]

    async def _transcriptions(self, request: Request) -> Response:
        """OpenAI's speech to text: a multipart form (`file`, `model`, `response_format`,
        `language`, `timestamp_granularities[]`) answered as `json` or `verbose_json`."""
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return JSONResponse(
                {"error": {"message": "file is required", "type": "invalid_request_error"}},
                status_code=400,
            )
        data = await upload.read()
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        with self._lock:
            self.transcription_requests.append(
                {
                    **fields,
                    "filename": upload.filename,
                    "content_type": upload.content_type,
                    "size": len(data),
                }
            )
            text = self.transcripts.pop(0) if self.transcripts else "a scripted transcript"
        if fields.get("response_format") != "verbose_json":
            return JSONResponse({"text": text})
        words = text.split()
        return JSONResponse(
            {
                "task": "transcribe",
                "language": "english",
                "duration": round(len(words) * 0.4, 2),
                "text": text,
                "segments": [
                    {
                        "id": 0,
                        "seek": 0,
                        "start": 0.0,
                        "end": round(len(words) * 0.4, 2),
                        "text": " " + text,
                        "tokens": list(range(len(words))),
                        "temperature": 0.0,
                        "avg_logprob": -0.2,
                        "compression_ratio": 1.1,
                        "no_speech_prob": 0.01,
                    }
                ],
            }
        )

    async def _embeddings(self, request: Request) -> Response:
        """OpenAI's embeddings protocol with bag-of-words vectors (64 hashed dimensions): texts
        that share words are close, as with a real model."""
        body = await request.json()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        with self._lock:
            self.embedding_requests.append([str(t) for t in texts])
        data = []
        for i, text in enumerate(texts):
            vector = [0.0] * 64
            for word in str(text).lower().split():
                digest = hashlib.blake2b(word.strip(".,?!").encode(), digest_size=2).digest()
                vector[int.from_bytes(digest, "big") % 64] += 1.0
            data.append({"object": "embedding", "index": i, "embedding": vector})
        tokens = sum(len(str(text).split()) for text in texts)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                # A token a word, as billed.
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _tokenize(self, request: Request) -> Response:
        content = str((await request.json()).get("content", ""))
        with self._lock:
            self.tokenized.append(content)
        return JSONResponse({"tokens": list(range(self.count_tokens(content)))})

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def error(self, scripted: ScriptedReply) -> Response:
        return JSONResponse(
            {"error": {"message": scripted.content or "scripted error", "type": "test"}},
            status_code=scripted.status,
            headers=scripted.headers,
        )

    def answer(self, body: dict[str, Any], scripted: ScriptedReply) -> Response:
        wants_json = body.get("response_format", {}).get("type") == "json_schema"
        content = scripted.content
        if content is None and not scripted.tool_calls:
            content = DEFAULT_JSON if wants_json else DEFAULT_TEXT
        calls = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}))},
            }
            for i, c in enumerate(scripted.tool_calls)
        ]
        finish = "tool_calls" if calls else "stop"
        usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
        model = body.get("model", "fake")
        if body.get("stream"):
            return StreamingResponse(
                self._chunks(
                    model,
                    content or "",
                    calls,
                    finish,
                    usage,
                    scripted.chunk_delay_s,
                    scripted.cut_after_words,
                ),
                media_type="text/event-stream",
            )
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            message["tool_calls"] = calls
        return JSONResponse(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage,
            }
        )

    @staticmethod
    async def _chunks(
        model: str,
        content: str,
        calls: list[dict[str, Any]],
        finish: str,
        usage: dict[str, int],
        delay_s: float,
        cut_after_words: int | None = None,
    ) -> AsyncIterator[str]:
        def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> str:
            payload = {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                **extra,
            }
            return f"data: {json.dumps(payload)}\n\n"

        for n, word in enumerate(content.split(" ")):
            if cut_after_words is not None and n >= cut_after_words:
                raise ConnectionResetError("scripted: the stream is cut off")
            yield chunk({"content": word + " "})
            if delay_s:
                await asyncio.sleep(delay_s)
        for i, call in enumerate(calls):
            yield chunk({"tool_calls": [{"index": i, **call}]})
        yield chunk({}, finish)
        yield (
            "data: "
            + json.dumps(
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
            )
            + "\n\n"
        )
        yield "data: [DONE]\n\n"


class FakeAnthropic(ScriptedServer):
    path = "/v1/messages"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def error(self, scripted: ScriptedReply) -> Response:
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(
            scripted.status, "invalid_request_error"
        )
        return JSONResponse(
            {"type": "error", "error": {"type": kind, "message": scripted.content or "scripted"}},
            status_code=scripted.status,
            headers=scripted.headers,
        )

    def answer(self, body: dict[str, Any], scripted: ScriptedReply) -> Response:
        wants_json = (body.get("output_config") or {}).get("format", {}).get("type") == (
            "json_schema"
        )
        content = scripted.content
        if content is None and not scripted.tool_calls:
            content = DEFAULT_JSON if wants_json else DEFAULT_TEXT
        blocks: list[dict[str, Any]] = [{"type": "text", "text": content}] if content else []
        blocks += [
            {
                "type": "tool_use",
                "id": f"toolu_{i}",
                "name": c["name"],
                "input": c.get("arguments", {}),
            }
            for i, c in enumerate(scripted.tool_calls)
        ]
        message = {
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "claude-fake"),
            "content": blocks,
            "stop_reason": "tool_use" if scripted.tool_calls else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 100, "output_tokens": 20},
        }
        if body.get("stream"):
            return StreamingResponse(
                self._events(message, scripted.chunk_delay_s, scripted.cut_after_words),
                media_type="text/event-stream",
            )
        return JSONResponse(message)

    @staticmethod
    async def _events(
        message: dict[str, Any], delay_s: float, cut_after_words: int | None = None
    ) -> AsyncIterator[str]:
        """The Messages streaming protocol: message_start, per block a start, deltas and a stop,
        then message_delta (stop reason, usage) and message_stop."""

        def event(kind: str, **data: Any) -> str:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

        usage = {"input_tokens": 100, "output_tokens": 0}
        yield event(
            "message_start",
            message={**message, "content": [], "stop_reason": None, "usage": usage},
        )
        for index, block in enumerate(message["content"]):
            start: dict[str, Any]
            if block["type"] == "text":
                start = {"type": "text", "text": ""}
                yield event("content_block_start", index=index, content_block=start)
                for n, word in enumerate(block["text"].split(" ")):
                    if cut_after_words is not None and n >= cut_after_words:
                        raise ConnectionResetError("scripted: the stream is cut off")
                    delta = {"type": "text_delta", "text": word + " "}
                    yield event("content_block_delta", index=index, delta=delta)
                    await asyncio.sleep(delay_s)
            else:
                start = {**block, "input": {}}
                yield event("content_block_start", index=index, content_block=start)
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
                yield event("content_block_delta", index=index, delta=delta)
            yield event("content_block_stop", index=index)
        stop = {"stop_reason": message["stop_reason"], "stop_sequence": None}
        yield event("message_delta", delta=stop, usage={"output_tokens": 20})
        yield event("message_stop")


def main() -> None:
    """`python -m tests.support.fake_openai --port N`: the OpenAI-protocol server on its own, for
    benchmarks that keep the scripted model out of the measuring process."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    server = FakeOpenAI()
    server.port = port
    server.default_reply = ScriptedReply(content="Done.", chunk_delay_s=0)
    app = Starlette(routes=server.routes())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
