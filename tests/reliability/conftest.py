"""Harness for the fault tests: a worker the test stops and starts itself, on the session's real
Temporal and PostgreSQL, and helpers to wait on the API. Each test stops only what it started."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.knowledge import LocalEmbedder as Embedder
from aios.config import Settings
from tests.conftest import Stack
from tests.support import tools as test_tools
from workers.main import Resources, build_worker


@dataclass
class StoppableStack(Stack):
    """A Stack whose worker is not running until `start()`; `stop()` takes it away again."""

    _task: asyncio.Task[None] | None = field(default=None)

    async def start(self) -> None:
        self.worker = build_worker(self.client, self.resources)
        self._task = asyncio.create_task(self.worker.run())

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            await self.worker.shutdown()
            await self._task
        self._task = None


@pytest.fixture
async def stoppable(
    settings: Settings,
    pool: asyncpg.Pool,
    temporal_env: WorkflowEnvironment,
    embedder: Embedder,
) -> AsyncIterator[StoppableStack]:
    resources = await Resources.open(settings, pool=pool, embedder=embedder)
    test_tools.register(resources.registry)
    placeholder = Worker.__new__(Worker)  # replaced by start()
    stack = StoppableStack(temporal_env.client, settings, resources, placeholder, pool)
    try:
        yield stack
    finally:
        await stack.stop()
        await resources.aclose()


async def wait_status(
    api: httpx.AsyncClient, run_id: str, *statuses: str, timeout_s: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await api.get(f"/v1/runs/{run_id}")
        if response.status_code == 200:
            body = response.json()
            if body["status"] in statuses:
                return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"run {run_id} never reached {statuses}; last: {body.get('status')}")


async def timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await call
    return response, time.monotonic() - started
