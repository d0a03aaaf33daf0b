"""ASGI middleware: request size limits, JSON-only bodies and one log record per request.

Both are plain ASGI rather than `BaseHTTPMiddleware`, which runs the app in a task group: it would
wrap a size error raised while reading into an exception group (read by FastAPI as "error parsing
the body") and it buffers streaming responses such as the event stream.
"""

from __future__ import annotations

import logging
import re
import time

from opentelemetry import propagate
from opentelemetry.trace import SpanKind
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from ulid import ULID

from aios import telemetry
from api.problems import too_large, unsupported_media

log = logging.getLogger("aios.api")


class BodyTooLarge(HTTPException):
    """Raised while a route reads its body; an HTTPException, so the routing layer passes it to
    the problem+json handler instead of calling it a parse error."""

    def __init__(self) -> None:
        super().__init__(413)


class RequestSizeLimit:
    """Refuse request bodies over `max_bytes` with 413 problem+json: by `Content-Length` before
    reading anything, and while reading for bodies sent without one (chunked). Paths in
    `upload_paths` (exact) take their own, larger limit; `multipart_paths` (exact) theirs for
    multipart bodies only, with the advice their 413 gives (audio sent to `/v1/runs`)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        upload_paths: dict[str, int] | None = None,
        multipart_paths: dict[str, tuple[int, str]] | None = None,
    ) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.upload_paths = upload_paths or {}
        self.multipart_paths = multipart_paths or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"].rstrip("/")
        max_bytes = self.upload_paths.get(path, self.default_max_bytes)
        headers = dict(scope.get("headers") or [])
        advice = None
        media = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if path in self.multipart_paths and media == b"multipart/form-data":
            max_bytes, advice = self.multipart_paths[path]
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await too_large(max_bytes, advice)(scope, receive, send)
            return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge
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
                await too_large(max_bytes, advice)(scope, receive, send)


REQUEST_ID_HEADER = b"x-request-id"
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestLog:
    """One log record per request. The message reads `METHOD /path -> status in N ms`; the record
    carries `request_id`, `principal` (tenant/user/key id, never the key), `route` (the template,
    e.g. `/v1/runs/{run_id}`), `status` and `latency_ms` for the JSON log format. Never a body, a
    header value or a query string (those can hold PII). The request id is the caller's
    `X-Request-ID` when it is a sane token, a new ULID otherwise, and is echoed in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        # Header names arrive lower-cased; latin-1 is how HTTP headers decode losslessly.
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers") or []}
        offered = headers.get(REQUEST_ID_HEADER.decode(), "")
        request_id = offered if _REQUEST_ID_OK.match(offered) else str(ULID())
        scope.setdefault("state", {})["request_id"] = request_id

        async def remember_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        # The request's span, continuing the caller's trace (W3C traceparent) when it sent one;
        # Temporal's interceptor links the workflow and activity spans under it.
        with telemetry.TRACER.start_as_current_span(
            f"{scope['method']} {scope['path']}",
            context=propagate.extract(headers),
            kind=SpanKind.SERVER,
        ) as request_span:
            try:
                await self.app(scope, receive, remember_status)
            finally:
                route_path = getattr(scope.get("route"), "path", None)
                if route_path:
                    request_span.update_name(f"{scope['method']} {route_path}")
                request_span.set_attribute("http.request.method", scope["method"])
                request_span.set_attribute("http.route", route_path or scope["path"])
                request_span.set_attribute("http.response.status_code", status)
                self._log(scope, route_path, status, started, request_id)

    @staticmethod
    def _log(
        scope: Scope, route_path: str | None, status: int, started: float, request_id: str
    ) -> None:
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        log.info(
            "%s %s -> %d in %.1f ms",
            scope["method"],
            scope["path"],
            status,
            latency_ms,
            extra={
                "request_id": request_id,
                "method": scope["method"],
                "route": route_path,
                "path": scope["path"],
                "status": status,
                "latency_ms": latency_ms,
                "principal": scope.get("state", {}).get("principal"),
            },
        )


class JsonBodies:
    """Request bodies of the JSON endpoints must say they are JSON: anything else is a 415
    naming the media type to send (FastAPI would try to parse it and answer a confusing 422).
    `/v1/documents` also takes multipart uploads and checks for itself; `/mcp` is MCP's own.
    `MULTIPART` paths also take multipart bodies (audio: api/voice.py)."""

    EXEMPT = ("/v1/documents", "/mcp")
    MULTIPART = ("/v1/runs", "/v1/chat", "/v1/transcriptions")
    # Slack sends interactivity requests as a form (api/routes/slack/buttons.py).
    FORM = ("/v1/channels/slack/interactions",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("POST", "PUT", "PATCH")
            and scope["path"].startswith("/v1/")
            and not scope["path"].rstrip("/").endswith(self.EXEMPT)
        ):
            headers = dict(scope.get("headers") or [])
            declared = headers.get(b"content-length", b"0")
            media = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
            has_body = declared != b"0" or b"transfer-encoding" in headers
            spoken = media == b"multipart/form-data" and scope["path"].rstrip("/") in self.MULTIPART
            form = (
                media == b"application/x-www-form-urlencoded"
                and scope["path"].rstrip("/") in self.FORM
            )
            if (
                has_body
                and media
                and media != b"application/json"
                and not media.endswith(b"+json")
                and not spoken
                and not form
            ):
                await unsupported_media(media.decode(errors="replace"))(scope, receive, send)
                return
        await self.app(scope, receive, send)
