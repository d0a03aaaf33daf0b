"""The FastAPI application and its lifespan (clients are created at start-up, not as globals)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from temporalio.client import Client

from activities.knowledge import KnowledgeIndex, open_knowledge
from activities.memory import MemoryService, open_memory
from activities.plan_checks import load_skills
from activities.tools import ToolRegistry, add_mcp_tools, build_registry
from aios import db, telemetry
from aios.config import Settings
from aios.skills import SkillCatalog
from aios.stores import VectorStore, open_vectors
from aios.stores.deltas import DeltaHub
from aios.temporal import connect
from api import problems
from api.console import mount_console
from api.mcp import mount_mcp
from api.middleware import JsonBodies, RequestLog, RequestSizeLimit
from api.routes import chat as chat_routes
from api.routes import documents, health, runs, search
from api.routes import keys as key_routes
from api.routes import memory as memory_routes
from api.routes import metrics as metrics_routes
from api.routes import schedules as schedule_routes
from api.routes import skills as skill_routes
from api.routes import tenants as tenant_routes
from api.routes import tools as tool_routes
from api.run_service import RunService

log = logging.getLogger("aios.api")


def create_app(
    settings: Settings,
    *,
    pool: asyncpg.Pool | None = None,
    temporal: Client | None = None,
    vectors: VectorStore | None = None,
    registry: ToolRegistry | None = None,
    knowledge: KnowledgeIndex | None = None,
    memory: MemoryService | None = None,
    skills: SkillCatalog | None = None,
) -> FastAPI:
    """Clients passed in are shared (the dev stack and tests); missing ones are opened here.
    The tool registry is read for its schemas (plans are validated before a run starts); the API
    never executes a tool.

    With embedded Qdrant (Edge) a separate API process cannot open the files the worker holds, so it
    reports Qdrant as not ready rather than fighting over the lock.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.check_production_safety()
        telemetry.configure_tracing("aios-api")
        own_pool = pool is None
        app.state.settings = settings
        if registry is None:
            app.state.registry = build_registry(settings.tool_plugins, settings.tool_files)
            await add_mcp_tools(app.state.registry, settings.mcp_servers)
        else:
            app.state.registry = registry
        app.state.skills = skills or load_skills(settings.skills_dir, app.state.registry)
        app.state.pool = pool or await db.connect(settings.require_database_url())
        app.state.temporal = temporal or await connect(settings, app.state.pool)
        app.state.vectors = vectors or (open_vectors(settings) if settings.qdrant_url else None)
        app.state.deltas = DeltaHub(app.state.pool)
        app.state.runs = RunService(
            temporal=app.state.temporal,
            settings=settings,
            pool=app.state.pool,
            registry=app.state.registry,
            skills=app.state.skills,
            deltas=app.state.deltas,
        )
        # Search and deletes need the knowledge index: shared in the dev stack, opened here
        # against a Qdrant server, absent with embedded Qdrant (the worker process holds its files).
        app.state.knowledge = knowledge or (
            open_knowledge(settings, app.state.vectors) if app.state.vectors else None
        )
        app.state.memory = memory or (
            open_memory(settings, app.state.pool, app.state.vectors, app.state.knowledge.embedder)
            if app.state.knowledge is not None and app.state.vectors is not None
            else None
        )
        try:
            async with mcp_sessions:
                yield
        finally:
            await app.state.deltas.aclose()
            if own_pool:
                await app.state.pool.close()
            if vectors is None and app.state.vectors is not None:
                await app.state.vectors.close()

    # The docs pages with their assets served from the package, not a CDN (works offline).
    app = FastAPIOffline(
        title="AIOS",
        version="0.1.0",
        summary="A durable, workflow-first AI operating system on Temporal",
        lifespan=lifespan,
    )
    problems.install(app)
    mcp_sessions = mount_mcp(app)
    app.include_router(health.router)
    app.include_router(runs.router)
    app.include_router(documents.router)
    app.include_router(search.router)
    app.include_router(memory_routes.router)
    app.include_router(tool_routes.router)
    app.include_router(skill_routes.router)
    app.include_router(key_routes.router)
    app.include_router(chat_routes.router)
    app.include_router(schedule_routes.router)
    app.include_router(metrics_routes.router)
    app.include_router(tenant_routes.router)
    mount_console(app)
    problems.document_problems(app)

    # Added last = outermost: the size limit sees the request before anything else reads it.
    app.add_middleware(JsonBodies)
    app.add_middleware(RequestLog)
    app.add_middleware(
        RequestSizeLimit,
        max_bytes=settings.max_request_bytes,
        upload_paths={documents.router.prefix: settings.max_upload_bytes},
    )
    return app
