"""The FastAPI application and its lifespan (clients are created at start-up, not as globals)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI
from qdrant_client import AsyncQdrantClient
from temporalio.client import Client

from activities.tools import ToolRegistry, build_registry
from aios import db
from aios.config import Settings
from aios.stores import open_qdrant
from aios.stores.deltas import DeltaHub
from aios.temporal import connect
from api import problems
from api.middleware import RequestLog, RequestSizeLimit
from api.routes import health, runs

log = logging.getLogger("aios.api")


def create_app(
    settings: Settings,
    *,
    pool: asyncpg.Pool | None = None,
    temporal: Client | None = None,
    qdrant: AsyncQdrantClient | None = None,
    registry: ToolRegistry | None = None,
) -> FastAPI:
    """Clients passed in are shared (the dev stack and tests); missing ones are opened here.
    The tool registry is read for its schemas (plans are validated before a run starts); the API
    never executes a tool.

    In Qdrant local mode a separate API process cannot open the files the worker holds, so it
    reports Qdrant as not ready rather than fighting over the lock.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.check_production_safety()
        own_pool = pool is None
        app.state.settings = settings
        app.state.registry = registry or build_registry(settings.tool_plugins)
        app.state.pool = pool or await db.connect(settings.require_database_url())
        app.state.temporal = temporal or await connect(settings, app.state.pool)
        app.state.qdrant = qdrant or (open_qdrant(settings) if settings.qdrant_url else None)
        app.state.deltas = DeltaHub(app.state.pool)
        try:
            yield
        finally:
            await app.state.deltas.aclose()
            if own_pool:
                await app.state.pool.close()
            if qdrant is None and app.state.qdrant is not None:
                await app.state.qdrant.close()

    app = FastAPI(
        title="AIOS",
        version="0.1.0",
        summary="A durable, workflow-first AI operating system on Temporal",
        lifespan=lifespan,
    )
    problems.install(app)
    app.include_router(health.router)
    app.include_router(runs.router)

    # Added last = outermost: the size limit sees the request before anything else reads it.
    app.add_middleware(RequestLog)
    app.add_middleware(RequestSizeLimit, max_bytes=settings.max_request_bytes)
    return app
