"""Small helpers shared by the workflow and API tests."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from aios.models import AgentRunInput, IngestInput, IngestItem, IngestProgress, RunState
from aios.plan import Plan
from aios.stores import DocumentStore
from aios.stores.documents import document_id_for
from tests.conftest import REPO, run_id
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
