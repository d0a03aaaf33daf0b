"""The faults an operator fears (issue 12), on a deployment of separate processes this module starts
and stops itself (PostgreSQL, the Temporal dev server on a database file, a worker, the API): a
worker killed with -9 mid-run with parallel branches, the Temporal server killed with -9 and
restarted on its database, PostgreSQL restarted mid-run, the API killed while clients start runs
with idempotency keys. Side effects are counted where they land (the test tool's log table)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support import tools as test_tools
from tests.support.processes import Deployment

# Quick answers while a dependency is down (the defaults suit production).
FAST_FAILURE = {
    "AIOS_READ_TIMEOUT_S": "1",
    "AIOS_QUERY_TIMEOUT_S": "2",
    "AIOS_RETRY_AFTER_S": "2",
    "AIOS_WORKER_SHUTDOWN_S": "1",
}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root: Path = tmp_path_factory.mktemp("deployment")
    deployment = Deployment(root, extra_env=FAST_FAILURE)
    try:
        deployment.postgres()
        asyncio.run(_create_tool_log(deployment.pg_url))
        deployment.temporal().start()
        deployment.worker().start(timeout_s=120)
        deployment.api().start(timeout_s=60)
        yield deployment
    finally:
        deployment.close()


async def _create_tool_log(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(test_tools.SCHEMA)
    finally:
        await conn.close()


@pytest.fixture
async def api(deployment: Deployment) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=deployment.api_url, headers=deployment.headers, timeout=30
    ) as client:
        yield client


@pytest.fixture
async def db(deployment: Deployment) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(deployment.pg_url)
    yield conn
    await conn.close()


def charge(step_id: str, sleep_s: float, **extra: Any) -> dict[str, Any]:
    """A side effect (recorded once per idempotency key) followed by slow, heartbeating work."""
    return {
        "id": step_id,
        "kind": "tool",
        "tool": "side_effect",
        "args": {"then_sleep_s": sleep_s},
        "heartbeat_timeout_s": 2,
        "retry": {"max_attempts": 20, "initial_interval_s": 0.5, "max_interval_s": 2},
        **extra,
    }


def parallel_charges(n: int, sleep_s: float) -> dict[str, Any]:
    ids = [f"charge-{i}" for i in range(n)]
    return {
        "steps": [
            *(charge(i, sleep_s) for i in ids),
            {"id": "total", "kind": "tool", "tool": "echo", "args": {"n": n}, "depends_on": ids},
        ]
    }


async def effects(db: asyncpg.Connection, run_id: str) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM test_tool_log WHERE run_id = $1 AND event = 'effect'", run_id
        )
    )


async def until(predicate: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = await predicate()
        except (httpx.TransportError, OSError, asyncpg.PostgresError):
            value = None
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def finished(api: httpx.AsyncClient, run_id: str, timeout_s: float = 120) -> dict[str, Any]:
    async def ended() -> dict[str, Any] | None:
        response = await api.get(f"/v1/runs/{run_id}")
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body if body["status"] in {"completed", "failed", "cancelled"} else None

    return dict(await until(ended, timeout_s, f"run {run_id} to end"))


async def start(api: httpx.AsyncClient, plan: dict[str, Any]) -> str:
    response = await api.post("/v1/runs", json={"goal": "fault test", "plan": plan})
    assert response.status_code == 202, response.text
    return str(response.json()["run_id"])


async def test_a_worker_killed_mid_run_leaves_each_parallel_effect_done_once(
    deployment: Deployment, api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    run_id = await start(api, parallel_charges(3, sleep_s=4))
    # All three effects landed and their steps are still busy: now the worker dies.
    await until(lambda: _at_least(effects(db, run_id), 3), 60, "three effects")
    worker = deployment.process("worker")
    worker.kill()
    worker.start(timeout_s=120)

    run = await finished(api, run_id)
    assert run["status"] == "completed", run.get("error")
    assert await effects(db, run_id) == 3, "each branch's effect happened exactly once"
    charged = [s for s in run["plan"] if s["id"].startswith("charge-")]
    assert all(s["attempts"] >= 2 for s in charged), "the interrupted steps ran again"


async def test_temporal_killed_and_restarted_on_its_database_loses_nothing(
    deployment: Deployment, api: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    run_id = await start(api, parallel_charges(2, sleep_s=3))
    await until(lambda: _at_least(effects(db, run_id), 2), 60, "two effects")
    temporal = deployment.process("temporal")
    temporal.kill()

    # While it is down the API says so, with when to try again, at once.
    for method, path, body in (
        ("GET", f"/v1/runs/{run_id}", None),
        ("POST", "/v1/runs", {"goal": "while down", "plan": parallel_charges(1, 0)}),
    ):
        started = time.monotonic()
        response = await api.request(method, path, json=body)
        if method == "GET" and response.status_code == 200:
            # The last known state, marked stale, is a fine answer to a read.
            assert response.headers.get("warning") or response.json().get("stale"), response.text
        else:
            assert response.status_code == 503, (method, response.status_code, response.text)
            assert int(response.headers["retry-after"]) >= 1
            assert response.headers["content-type"].startswith("application/problem+json")
        # A start answers 503 after one read's timeout (3 s) and a health check that fails at
        # once, a read in ~1 s: seconds, not the SDK's minutes of retries. (A start used to wait
        # three reads' time, ~9.5 s, before it said so.)
        assert time.monotonic() - started < 8, f"{method} {path} waited on the dead server"

    temporal.start()
    # Nothing restarted by hand: the worker and the API reconnect by themselves.
    run = await finished(api, run_id, timeout_s=180)
    assert run["status"] == "completed", run.get("error")
    assert await effects(db, run_id) == 2, "no effect repeated across the outage"
    after = await start(api, parallel_charges(1, 0))
    assert (await finished(api, after))["status"] == "completed"


async def test_postgres_restarted_mid_run_costs_retries_not_duplicates(
    deployment: Deployment, api: httpx.AsyncClient
) -> None:
    run_id = await start(api, parallel_charges(2, sleep_s=3))
    conn = await asyncpg.connect(deployment.pg_url)
    try:
        await until(lambda: _at_least(effects(conn, run_id), 2), 60, "two effects")
    finally:
        await conn.close()
    await asyncio.to_thread(deployment.restart_postgres)

    run = await finished(api, run_id, timeout_s=180)
    assert run["status"] == "completed", run.get("error")
    conn = await asyncpg.connect(deployment.pg_url)
    try:
        assert await effects(conn, run_id) == 2, "no effect repeated across the restart"
    finally:
        await conn.close()


async def test_an_api_killed_while_clients_start_runs_loses_and_doubles_none(
    deployment: Deployment, api: httpx.AsyncClient
) -> None:
    keys = [f"fault-{uuid.uuid4().hex[:12]}" for _ in range(16)]
    plan = parallel_charges(1, 0)
    answers: dict[str, set[str]] = {k: set() for k in keys}
    api_process = deployment.process("api")

    async def post_until_answered(key: str) -> None:
        # A careful client retries its POST, with the same key, until it gets an answer.
        while True:
            try:
                response = await api.post(
                    "/v1/runs",
                    json={"goal": f"client {key}", "plan": plan},
                    headers={"Idempotency-Key": key},
                )
            except httpx.TransportError:  # the API died under this request
                await asyncio.sleep(0.2)
                continue
            if response.status_code in (200, 202):
                answers[key].add(response.json()["run_id"])
                return
            assert response.status_code in (429, 503), response.text
            await asyncio.sleep(0.2)

    async def client(key: str) -> None:
        await post_until_answered(key)
        # Its answer may have been lost on the way: asking again finds the same run.
        await post_until_answered(key)

    clients = [asyncio.create_task(client(k)) for k in keys]
    await asyncio.sleep(0.3)
    await asyncio.to_thread(api_process.kill)
    await asyncio.sleep(1)
    await asyncio.to_thread(api_process.start)
    await asyncio.wait_for(asyncio.gather(*clients), 120)

    assert all(len(ids) == 1 for ids in answers.values()), "a key answered with two runs"
    run_ids = {next(iter(ids)) for ids in answers.values()}
    assert len(run_ids) == len(keys), "two keys shared a run"
    for run_id in run_ids:
        assert (await finished(api, run_id))["status"] == "completed"

    async def listed() -> list[dict[str, Any]] | None:  # the run list is eventually consistent
        runs = (await api.get("/v1/runs", params={"page_size": 200})).json()["runs"]
        ours = [r for r in runs if r["goal"].removeprefix("client ") in keys]
        return ours if len(ours) >= len(keys) else None

    ours = await until(listed, 30, "every run in the list")
    assert sorted(r["run_id"] for r in ours) == sorted(run_ids), "one listed run per key"


async def _at_least(count: Any, n: int) -> bool:
    return int(await count) >= n
