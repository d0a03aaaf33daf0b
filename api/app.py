"""The FastAPI application and its lifespan (clients are created at start-up, not as globals)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from temporalio.client import Client

from activities.knowledge import KnowledgeIndex
from activities.memory import MemoryService
from activities.services import API, Parts, Services, open_services
from activities.tools import ToolRegistry
from aios import telemetry
from aios.config import Settings
from aios.skills import SkillCatalog
from aios.stores import VectorStore
from aios.stores.deltas import DeltaHub
from api import problems, voice
from api.console import mount_console
from api.deps import declare_roles
from api.mcp import mount_mcp
from api.middleware import JsonBodies, RequestLog, RequestSizeLimit
from api.routes import approval_policies as policy_routes
from api.routes import approvals as approval_routes
from api.routes import budgets as budget_routes
from api.routes import chat as chat_routes
from api.routes import contacts as contact_routes
from api.routes import documents, health, runs, search
from api.routes import evals as eval_routes
from api.routes import keys as key_routes
from api.routes import memory as memory_routes
from api.routes import metrics as metrics_routes
from api.routes import reports as report_routes
from api.routes import run_files as run_file_routes
from api.routes import schedules as schedule_routes
from api.routes import skills as skill_routes
from api.routes import slack as slack_routes
from api.routes import sources as source_routes
from api.routes import standing_approvals as standing_routes
from api.routes import tenants as tenant_routes
from api.routes import tools as tool_routes
from api.routes import transcriptions as transcription_routes
from api.routes import versions as version_routes
from api.run_service import RunService

log = logging.getLogger("aios.api")


def create_app(
    settings: Settings,
    *,
    services: Services | None = None,
    pool: asyncpg.Pool | None = None,
    temporal: Client | None = None,
    vectors: VectorStore | None = None,
    registry: ToolRegistry | None = None,
    knowledge: KnowledgeIndex | None = None,
    memory: MemoryService | None = None,
    skills: SkillCatalog | None = None,
) -> FastAPI:
    """The API over `services` (the dev stack shares its worker's) and the parts passed in (tests
    override some); what is missing is opened at start-up by `open_services` and closed at
    shutdown. The tool registry is read for its schemas (plans are validated before a run
    starts); the API never executes a tool.

    With embedded Qdrant (Edge) a separate API process cannot open the files the worker holds, so it
    reports Qdrant as not ready rather than fighting over the lock.
    """
    passed = Parts(
        pool=pool,
        temporal=temporal,
        vectors=vectors,
        registry=registry,
        knowledge=knowledge,
        memory=memory,
        skills=skills,
    )
    given = passed.over(services.parts()) if services is not None else passed

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.check_production_safety()
        telemetry.configure_tracing("aios-api")
        opened = await open_services(settings, API, given)
        app.state.services = opened
        app.state.settings = settings
        app.state.registry = opened.registry
        app.state.skills = opened.skills
        app.state.pool = opened.pool
        app.state.temporal = opened.temporal
        app.state.vectors = opened.vectors
        # Search and deletes need the knowledge index and memory: shared in the dev stack, opened
        # against a Qdrant server, absent with embedded Qdrant (the worker process holds its files).
        app.state.knowledge = opened.knowledge
        app.state.memory = opened.memory
        app.state.deltas = DeltaHub(opened.pool)
        app.state.runs = RunService(
            temporal=app.state.temporal,
            settings=settings,
            pool=app.state.pool,
            registry=app.state.registry,
            skills=app.state.skills,
            deltas=app.state.deltas,
        )
        try:
            async with mcp_sessions:
                yield
        finally:
            await app.state.deltas.aclose()
            await opened.aclose()

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
    app.include_router(approval_routes.router)
    app.include_router(standing_routes.router)
    app.include_router(policy_routes.router)
    app.include_router(policy_routes.groups_router)
    app.include_router(documents.router)
    app.include_router(search.router)
    app.include_router(memory_routes.router)
    app.include_router(contact_routes.router)
    app.include_router(tool_routes.router)
    app.include_router(source_routes.router)
    app.include_router(source_routes.mcp_router)
    app.include_router(source_routes.egress_router)
    app.include_router(skill_routes.router)
    app.include_router(key_routes.router)
    app.include_router(budget_routes.router)
    app.include_router(budget_routes.usage_router)
    app.include_router(chat_routes.router)
    app.include_router(report_routes.router)
    app.include_router(report_routes.answers)
    app.include_router(report_routes.rendering)
    app.include_router(run_file_routes.router)
    app.include_router(schedule_routes.router)
    app.include_router(metrics_routes.router)
    app.include_router(tenant_routes.router)
    app.include_router(transcription_routes.router)
    app.include_router(version_routes.router)
    app.include_router(eval_routes.router)
    app.include_router(slack_routes.router)
    declare_roles(app)
    mount_console(app)
    problems.document_problems(app)

    # Added last = outermost: the size limit sees the request before anything else reads it.
    app.add_middleware(JsonBodies)
    app.add_middleware(RequestLog)
    app.add_middleware(
        RequestSizeLimit,
        max_bytes=settings.max_request_bytes,
        upload_paths={documents.router.prefix: settings.max_upload_bytes},
        # Audio (api/voice.py): the recording's limit, and room for the multipart envelope.
        multipart_paths=dict.fromkeys(
            (runs.router.prefix, chat_routes.router.prefix, transcription_routes.router.prefix),
            (
                settings.max_audio_bytes + voice.ENVELOPE_BYTES,
                f"audio is limited to {settings.max_audio_bytes} bytes (AIOS_MAX_AUDIO_BYTES)",
            ),
        ),
    )
    return app
