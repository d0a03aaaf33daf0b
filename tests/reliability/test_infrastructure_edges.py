"""Dependencies going away under the API (issue 6): each test starts its own PostgreSQL or
Temporal server and stops that one only."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from aios import db
from aios import search_attributes as sa
from aios.artifacts import data_converter
from aios.errors import TransientError
from aios.stores import DocumentStore
from cli.orphans import EmbeddedPostgres
from tests.conftest import (
    ARTIFACT_THRESHOLD,
    AUTH,
    REPO,
    Stack,
    _binary,
    api_client,
    app_for,
    serving,
)
from tests.helpers import ECHO_PLAN, assert_problem


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    postgres = EmbeddedPostgres.start(tmp_path / "pg")
    yield postgres
    postgres.stop()


async def test_postgres_down_is_503_with_retry_after_for_large_requests(
    stack: Stack, private_postgres: EmbeddedPostgres
) -> None:
    """Defect 2: a run request over 64 KiB while PostgreSQL was down answered 500."""
    pool = await db.connect(private_postgres.uri)
    target = stack.client.service_client.config.target_host
    client = await Client.connect(
        target, data_converter=data_converter(pool, threshold_bytes=ARTIFACT_THRESHOLD)
    )
    try:
        async with api_client(app_for(stack, pool=pool, temporal=client)) as api:
            private_postgres.stop()
            big_plan = {
                "steps": [
                    {"id": "a", "kind": "tool", "tool": "echo", "args": {"value": "x" * 90_000}}
                ]
            }
            response = await api.post("/v1/runs", json={"goal": "big", "plan": big_plan})
            assert_problem(response, 503, "PostgreSQL is unreachable")
            assert int(response.headers["retry-after"]) >= 1
            # Stores say the same, wherever they are called from (defect 10).
            with pytest.raises(TransientError, match="PostgreSQL is unreachable"):
                await DocumentStore(pool).get("default", "doc-1")
    finally:
        await pool.close()


@pytest.fixture
async def private_temporal(stack: Stack) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"),
        search_attributes=sa.ALL,
        data_converter=stack.client.data_converter,
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


async def test_the_event_stream_survives_a_temporal_outage(
    stack: Stack, private_temporal: WorkflowEnvironment
) -> None:
    """Defect 3: the stream ended silently when Temporal went down, and with no worker it sent
    nothing for 25 s."""
    quick = stack.settings.model_copy(
        update={"query_timeout_s": 1.0, "read_timeout_s": 1.0, "sse_keepalive_s": 1.0}
    )
    app = app_for(stack, settings=quick, temporal=private_temporal.client)
    async with (
        serving(app) as url,
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as api,
    ):
        # No worker polls this server's queue: the run stays queued.
        run_id = (await api.post("/v1/runs", json={"goal": "g", "plan": ECHO_PLAN})).json()[
            "run_id"
        ]
        seen: list[tuple[float, str]] = []
        started = time.monotonic()

        async def read(response: httpx.Response) -> None:
            async for line in response.aiter_lines():
                if line:
                    seen.append((time.monotonic() - started, line))

        async with api.stream("GET", f"/v1/runs/{run_id}/events") as response:
            reader = asyncio.create_task(read(response))
            await _until(lambda: any(": keep-alive" in line for _, line in seen), 6)
            await private_temporal.shutdown()
            outage_at = time.monotonic() - started
            await _until(lambda: any(line == "event: error" for _, line in seen), 10)

            def keepalives_after() -> list[float]:
                return [t for t, line in seen if line == ": keep-alive" and t > outage_at + 1]

            await _until(lambda: bool(keepalives_after()), 6)
            assert not reader.done(), "the stream stays open through the outage"
            reader.cancel()
    error = next(line for _, line in seen if line.startswith("data:") and "retry_after_s" in line)
    assert "Temporal is unreachable" in error


async def _until(predicate: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.1)


# --- 15 -------------------------------------------------------------------------------------

START_POSTGRES = """
import contextlib, sys, time
from aios.config import Settings
from cli.devstack import start_postgres
with contextlib.ExitStack() as stack:
    print(start_postgres(Settings(), stack), flush=True)
    if sys.argv[1] == "hold":
        time.sleep(120)
"""


def test_dev_postgres_is_stopped_after_an_earlier_hard_kill(tmp_path: Path) -> None:
    """Defect 15: after one `kill -9` of `aios dev`, PostgreSQL was orphaned on every later start
    and stop. Now the hard kill itself stops it (the guard), and the next start and stop work."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "AIOS_DATA_DIR": str(tmp_path)}

    def postgres(mode: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", START_POSTGRES, mode],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )

    first = postgres("hold")
    assert first.stdout is not None and first.stdout.readline().startswith("postgresql://")
    postmaster = tmp_path / "postgres" / "postmaster.pid"
    assert postmaster.exists()
    first.send_signal(signal.SIGKILL)
    first.wait()
    deadline = time.monotonic() + 30
    while postmaster.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not postmaster.exists(), "killed hard, the first run's guard stopped PostgreSQL"

    second = postgres("exit")
    out, _ = second.communicate(timeout=60)
    assert second.returncode == 0 and out.startswith("postgresql://")
    assert not postmaster.exists(), "a clean stop stops PostgreSQL, even after a hard kill"
