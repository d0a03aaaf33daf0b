"""A scripted server that speaks the OpenAI chat-completions HTTP protocol, so tests exercise the
real `openai` client without the local model or a paid API.

By default it answers like a cooperative model: JSON that fits the requested schema when a
`response_format` asks for one, otherwise a sentence that cites document [1]. Tests can queue
exact replies (status, body, headers) for the next calls and read every request it received.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class ScriptedReply:
    status: int = 200
    content: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._script: list[ScriptedReply] = []
        self._lock = threading.Lock()
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        app = Starlette(routes=[Route("/v1/chat/completions", self._complete, methods=["POST"])])
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> FakeOpenAI:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._script.clear()

    def queue(self, *replies: ScriptedReply) -> None:
        with self._lock:
            self._script.extend(replies)

    async def _complete(self, request: Request) -> JSONResponse:
        body = await request.json()
        with self._lock:
            self.requests.append(body)
            scripted = self._script.pop(0) if self._script else None
        if scripted is not None and scripted.delay_s:
            import asyncio

            await asyncio.sleep(scripted.delay_s)
        if scripted is not None and scripted.status != 200:
            return JSONResponse(
                {"error": {"message": scripted.content or "scripted error", "type": "test"}},
                status_code=scripted.status,
                headers=scripted.headers,
            )
        content = scripted.content if scripted is not None else self._default_answer(body)
        return JSONResponse(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
            }
        )

    @staticmethod
    def _default_answer(body: dict[str, Any]) -> str:
        if body.get("response_format", {}).get("type") == "json_schema":
            return '{"key_points": ["AIOS runs every agent run as a Temporal workflow."]}'
        return "Runs are Temporal workflows, so they survive crashes [1]."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
