"""Small helpers shared by the tests: running plans, the plans several tests use, the API's
answers, and the CLI as a user runs it."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from aios.models import AgentRunInput, IngestInput, IngestItem, IngestProgress, RunState
from aios.plan import Plan
from aios.stores import DocumentStore
from aios.stores.documents import document_id_for
from tests.conftest import REPO, run_id
from tests.support.fake_openai import ScriptedReply
from workflows.agent_run import AgentRunWorkflow
from workflows.ingest import IngestWorkflow

# The documents tests ingest: the demo's corpus, a frozen copy of the docs (cli/demo.py).
CORPUS = REPO / "examples" / "corpus"


async def start_plan(
    client: Client, task_queue: str, steps: list[dict[str, Any]], **plan: Any
) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        AgentRunWorkflow.run,
        AgentRunInput(goal="test run", plan=Plan.model_validate({"steps": steps, **plan})),
        id=run_id(),
        task_queue=task_queue,
    )


async def finish(handle: WorkflowHandle[Any, Any]) -> RunState:
    """The final state, whether the run completed or failed."""
    with contextlib.suppress(WorkflowFailureError):
        await handle.result()
    state: RunState = await handle.query(AgentRunWorkflow.state)
    return state


async def wait_for(
    handle: WorkflowHandle[Any, Any],
    predicate: Callable[[RunState], bool],
    timeout_s: float = 20.0,
) -> RunState:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            state: RunState = await handle.query(AgentRunWorkflow.state)
            if predicate(state):
                return state
        except Exception:  # not started by a worker yet
            state = None  # type: ignore[assignment]
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached in {timeout_s}s; last state: {state}")
        await asyncio.sleep(0.1)


def step(state: RunState, step_id: str) -> Any:
    return next(s for s in state.plan if s.id == step_id)


async def current_details(handle: WorkflowHandle[Any, Any]) -> str:
    """The markdown the Temporal UI shows as the run's current details."""
    metadata = await handle.query("__temporal_workflow_metadata")
    details: str = metadata.current_details
    return details


async def ingest_files(
    client: Client, task_queue: str, pool: Any, paths: list[Any], tenant: str = "default"
) -> IngestProgress:
    """Ingest files as `aios ingest` does (uploaded bodies, one job), for tests that work below
    the API; named by file name."""
    bodies: dict[str, bytes] = {}
    items: list[IngestItem] = []
    for path in paths:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        bodies[sha] = data
        items.append(
            IngestItem(
                document_id=document_id_for(tenant, path.name),
                source=path.name,
                name=path.name,
                upload_sha256=sha,
            )
        )
    await DocumentStore(pool).put_uploads(tenant, bodies)
    progress: IngestProgress = await client.execute_workflow(
        IngestWorkflow.run,
        IngestInput(tenant=tenant, items=items),
        id=f"ingest-{run_id()}",
        task_queue=task_queue,
    )
    return progress


def docs_files() -> list[Any]:
    return sorted(p for p in CORPUS.rglob("*.md"))


# --- plans the tests share ------------------------------------------------------------------

# Plans as the API takes them (the body of POST /v1/runs).
ECHO_PLAN = {"steps": [{"id": "say", "kind": "tool", "tool": "echo", "args": {"value": "hi"}}]}
APPROVAL_PLAN = {
    "steps": [{"id": "send", "kind": "tool", "tool": "guarded_echo", "args": {"value": "to all"}}]
}
SLOW_PLAN = {
    "steps": [{"id": "wait", "kind": "tool", "tool": "timed_sleep", "args": {"seconds": 60}}]
}

# Steps as `start_plan` takes them. A draft, then a tool requiring approval that sends it.
APPROVAL_STEPS = [
    {"id": "draft", "kind": "tool", "tool": "echo", "args": {"value": "the draft"}},
    {
        "id": "send",
        "kind": "tool",
        "tool": "guarded_echo",
        "depends_on": ["draft"],
        "args": {"value": {"$ref": "steps.draft.output"}},
    },
]

# An agent step, and the scripted model replies that make it call tools (one needing approval).
AGENT_PLAN: list[dict[str, Any]] = [
    {
        "id": "work",
        "kind": "agent",
        "args": {
            "instruction": "Gather two facts, then publish them.",
            "tools": ["echo", "word_count", "guarded_echo"],
            "max_turns": 5,
        },
    }
]
AGENT_SCRIPT = (
    ScriptedReply(
        tool_calls=[
            {"name": "echo", "arguments": {"value": "fact one"}},
            {"name": "word_count", "arguments": {"text": "two words"}},
        ]
    ),
    ScriptedReply(tool_calls=[{"name": "guarded_echo", "arguments": {"value": "published"}}]),
    ScriptedReply(content="Done: both facts gathered and published."),
)


# --- the API --------------------------------------------------------------------------------


async def wait_status(api: httpx.AsyncClient, run_id: str, *statuses: str) -> dict[str, Any]:
    for _ in range(200):
        body: dict[str, Any] = (await api.get(f"/v1/runs/{run_id}")).json()
        if body["status"] in statuses:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} never reached {statuses}; last: {body['status']}")


def assert_problem(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["type"].startswith("https://")
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


# --- the CLI --------------------------------------------------------------------------------


async def aios(
    api_url: str, *args: str, key: str = "test-key", stdin: bytes | None = None
) -> tuple[int, str, str]:
    """`aios <args>` as a user runs it: a real process, talking to the API at `api_url`."""
    env = {**os.environ, "AIOS_API_URL": api_url, "AIOS_API_KEY": key, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        *args,
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


# --- keys and runs through the API ---------------------------------------------------------


async def make_key(api: httpx.AsyncClient, tenant: str, user: str, **extra: Any) -> dict[str, Any]:
    created = await api.post(
        "/v1/keys", json={"tenant": tenant, "user_id": user, "roles": ["user"], **extra}
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def as_key(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def wait_done(api: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    for _ in range(300):
        run: dict[str, Any] = (await api.get(f"/v1/runs/{run_id}")).json()
        if run["status"] in ("completed", "failed", "cancelled", "timed_out"):
            return run
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


async def keys_by_role(api: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    """A tenant of its own (the Temporal server is shared by the session's tests) with one key
    per role."""
    tenant = f"acme-{uuid.uuid4().hex[:8]}"
    roles = {
        "ada": ["user"],
        "bob": ["user"],
        "carol": ["approver"],
        "olga": ["operator"],
        "adam": ["admin"],
    }
    return {
        user: as_key((await make_key(api, tenant, user, roles=granted))["key"])
        for user, granted in roles.items()
    }
