"""The composition root (activities/services.py): each kind of process opens what it needs and
was not given, and closes only what it opened."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.knowledge import LocalEmbedder
from activities.services import API, WORKER, Parts, open_services
from aios import db
from aios.config import Settings
from aios.errors import TransientError


async def test_an_api_process_goes_without_embedded_qdrant_and_models(
    settings: Settings, pool: asyncpg.Pool, temporal_env: WorkflowEnvironment
) -> None:
    services = await open_services(settings, API, Parts(pool=pool, temporal=temporal_env.client))
    try:
        assert services.registry.get("calculator") is not None
        assert services.skills.get("research_report") is not None
        assert services.temporal is temporal_env.client
        # Embedded Qdrant's files belong to the worker process; the API never calls a model.
        assert (services.vectors, services.knowledge, services.memory) == (None, None, None)
        assert services.router is None
    finally:
        await services.aclose()
    assert await pool.fetchval("SELECT 1") == 1, "a pool passed in stays open"


async def test_a_worker_opens_its_stores_and_closes_only_those(
    settings: Settings, pool: asyncpg.Pool, embedder: LocalEmbedder
) -> None:
    needs = replace(WORKER, temporal=False)
    services = await open_services(settings, needs, Parts(pool=pool, embedder=embedder))
    assert services.vectors is not None and services.router is not None
    assert services.knowledge is not None and services.knowledge.embedder is embedder
    assert services.memory is not None and services.temporal is None
    closed: list[str] = []
    vectors_close, router_close = services.vectors.close, services.router.aclose

    async def close_vectors() -> None:
        closed.append("vectors")
        await vectors_close()

    async def close_router() -> None:
        closed.append("router")
        await router_close()

    # What aclose runs was registered when each part was opened: swap in recorders there.
    services.opened.pop_all()
    services.opened.push_async_callback(close_vectors)
    services.opened.push_async_callback(close_router)
    await services.aclose()
    assert closed == ["router", "vectors"], "closed in reverse order of opening"
    assert await pool.fetchval("SELECT 1") == 1, "a pool passed in stays open"


async def test_what_was_opened_is_closed_when_opening_fails(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[Any] = []
    real_close = db.close

    async def recording_close(pool: asyncpg.Pool, timeout_s: float = 10) -> None:
        closed.append(pool)
        await real_close(pool, timeout_s)

    monkeypatch.setattr(db, "close", recording_close)
    unreachable = settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    with pytest.raises(TransientError, match="cannot reach Temporal"):
        await open_services(unreachable, API)
    assert len(closed) == 1, "the pool opened before Temporal failed is closed"
