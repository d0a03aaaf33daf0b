"""AIOS's MCP server mounted on the API at `/mcp` (streamable HTTP).

The MCP tools call the REST API in-process (httpx's ASGI transport, no network hop) with the
caller's own bearer key, so an MCP client gets exactly the answers, checks and tenant a REST
client with that key gets. A request without a valid key is refused here, before MCP sees it.
"""

from __future__ import annotations

import asyncio
import contextvars
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
from fastapi import FastAPI
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from aios.client import ApiClient
from aios.errors import RateLimited, Unauthorized
from aios.mcp_server import build_mcp_server
from api import problems
from api.deps import authenticate

_caller_key: contextvars.ContextVar[str] = contextvars.ContextVar("aios_mcp_caller_key")
MCP_PATH = "/mcp"


class _Authenticated:
    """The caller must present a valid API key; the MCP tools then act with that key."""

    def __init__(self, app: FastAPI, inner: ASGIApp) -> None:
        self.app = app
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        header = dict(scope.get("headers") or []).get(b"authorization", b"").decode()
        scheme, _, token = header.partition(" ")
        try:
            await authenticate(self.app.state, token if scheme.lower() == "bearer" else None)
        except (Unauthorized, RateLimited) as e:
            response = problems.problem(
                e.http_status,
                "Unauthorized" if e.http_status == 401 else "Too many requests",
                e.message,
                code=e.code,
                retry_after=getattr(e, "retry_after", None),
            )
            await response(scope, receive, send)
            return
        reset = _caller_key.set(token)
        try:
            await self.inner(scope, receive, send)
        finally:
            _caller_key.reset(reset)


def mount_mcp(app: FastAPI) -> AbstractAsyncContextManager[Any]:
    """Add `/mcp` to the app; returns the context manager the lifespan must hold open."""

    def client() -> ApiClient:
        return ApiClient(
            "http://aios.internal",
            _caller_key.get(),
            transport=httpx.ASGITransport(app=app),
            timeout_s=330,
        )

    server = build_mcp_server(client)
    starlette_app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        # Authentication is ours (above); the Host check would refuse every non-local name.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    for route in starlette_app.routes:
        if isinstance(route, Route) and route.path == MCP_PATH:
            app.router.routes.append(
                Route(MCP_PATH, endpoint=_Authenticated(app, route.app), methods=route.methods)
            )
    return _Sessions(server.session_manager)


class _Sessions:
    """Runs the MCP session manager in a task of its own: its task group must be entered and left
    by the same task, which an app's lifespan does not guarantee (tests enter and leave it from
    different tasks)."""

    def __init__(self, manager: Any) -> None:
        self._manager = manager
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self, started: asyncio.Event) -> None:
        async with self._manager.run():
            started.set()
            await self._stop.wait()

    async def __aenter__(self) -> None:
        started = asyncio.Event()
        self._task = asyncio.create_task(self._run(started), name="mcp-sessions")
        waiting = asyncio.create_task(started.wait())
        await asyncio.wait([self._task, waiting], return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if self._task.done():
            self._task.result()  # it failed to start: say why

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
