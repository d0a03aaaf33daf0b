"""Request size limits, enforced before a body is read in full."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """Raised while a route reads its body; an HTTPException so the routing layer passes it on
    to the problem+json handler instead of calling it a parse error."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit, limit + 1))


def _too_large(limit: int, size: int) -> str:
    return (
        f"the request body is larger than the limit of {limit} bytes (at least {size}); put "
        "large material in documents (POST /v1/documents) or raise AIOS_MAX_REQUEST_BYTES"
    )


class RequestSizeLimit:
    """Refuse request bodies over `max_bytes` with 413 problem+json: by `Content-Length` before
    reading anything, and while reading for bodies sent without one (chunked)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, int(declared))
            return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self._refuse(send, received)

    async def _refuse(self, send: Send, size: int) -> None:
        body = json.dumps(
            {
                "type": "https://aios.dev/problems/payload_too_large",
                "title": "Payload too large",
                "status": 413,
                "detail": _too_large(self.max_bytes, size),
                "limit_bytes": self.max_bytes,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
