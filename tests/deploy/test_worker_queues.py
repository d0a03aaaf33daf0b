"""Workers split by task queue: model calls on the LLM queue, tools on the tools queue, workflows
on the agent queue; a worker serves only the queue it was started for."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.worker import PollerBehaviorSimpleMaximum

from aios.models import AgentRunInput
from aios.plan import Plan
from tests.conftest import Stack
from tests.support.fake_openai import FakeOpenAI, ScriptedReply
from workers.main import build_worker
from workflows.agent_run import AgentRunWorkflow

PLAN = {
    "steps": [
        {"id": "ask", "kind": "llm", "args": {"instruction": "Say hi"}},
        {"id": "echo", "kind": "tool", "tool": "echo", "args": {"value": 7}, "depends_on": ["ask"]},
    ]
}


async def test_each_activity_runs_on_its_own_queue(stack: Stack, fake_openai: FakeOpenAI) -> None:
    tag = uuid.uuid4().hex[:8]
    queues = {"agent": f"agent-{tag}", "llm": f"llm-{tag}", "tools": f"tools-{tag}"}
    settings = stack.settings.model_copy(
        update={
            "task_queue": queues["agent"],
            "llm_task_queue": queues["llm"],
            "tool_task_queue": queues["tools"],
        }
    )
    resources = stack.resources
    original = resources.settings
    resources.settings = settings
    try:
        agent = build_worker(stack.client, resources, task_queue=queues["agent"])
        llm = build_worker(stack.client, resources, task_queue=queues["llm"])
        tools = build_worker(stack.client, resources, task_queue=queues["tools"])
    finally:
        resources.settings = original
    fake_openai.queue(ScriptedReply(content="Hi."))
    async with agent, llm:
        handle = await stack.client.start_workflow(
            AgentRunWorkflow.run,
            AgentRunInput(
                goal="split",
                plan=Plan.model_validate(PLAN),
                activity_queues=settings.activity_queues(),
            ),
            id=f"run-split-{tag}",
            task_queue=queues["agent"],
        )
        # The model step runs (LLM queue served); the tool step waits: the agent worker does not
        # take the tools queue's work, and nobody serves that queue yet.
        for _ in range(100):
            state = await handle.query(AgentRunWorkflow.state)
            steps = {s.id: s.status for s in state.plan}
            if steps.get("ask") == "completed":
                break
            await asyncio.sleep(0.1)
        assert steps == {"ask": "completed", "echo": "running"}, steps
        await asyncio.sleep(1.0)
        state = await handle.query(AgentRunWorkflow.state)
        assert {s.id: s.status for s in state.plan}["echo"] == "running"
        async with tools:
            result = await asyncio.wait_for(handle.result(), 30)
    assert result.status == "completed" and result.result is not None
    assert result.result.answer == "7"


async def test_a_worker_without_the_sandbox_runs_workflows(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    """AIOS_WORKFLOW_SANDBOX=false: the same workflows, run outside Temporal's sandbox."""
    from temporalio.worker import UnsandboxedWorkflowRunner

    from workers.main import workflow_runner

    queue = f"unsandboxed-{uuid.uuid4().hex[:8]}"
    settings = stack.settings.model_copy(update={"task_queue": queue, "workflow_sandbox": False})
    assert isinstance(workflow_runner(settings), UnsandboxedWorkflowRunner)
    resources = stack.resources
    original = resources.settings
    resources.settings = settings
    try:
        worker = build_worker(stack.client, resources, task_queue=queue)
    finally:
        resources.settings = original
    fake_openai.queue(ScriptedReply(content="Hi."))
    async with worker:
        result = await stack.client.execute_workflow(
            AgentRunWorkflow.run,
            AgentRunInput(goal="unsandboxed", plan=Plan.model_validate(PLAN)),
            id=f"run-unsandboxed-{queue}",
            task_queue=queue,
        )
    assert result.status == "completed" and result.result is not None
    assert result.result.answer == "7"


def test_the_sandboxed_worker_compiles_the_sdks_code_strings_once(stack: Stack) -> None:
    """workers/sandbox.py hands the SDK's private `_Instance._run_code` compiled code: the runner
    is the default, and the pinned SDK still runs every sandbox entry through that method's
    `exec`. A temporalio upgrade that changes either fails here, not in production."""
    import inspect

    from temporalio.worker.workflow_sandbox._runner import _Instance

    from workers.main import workflow_runner
    from workers.sandbox import SandboxRunner

    assert isinstance(workflow_runner(stack.settings), SandboxRunner)
    source = inspect.getsource(_Instance)
    assert "exec(code, self.globals_and_locals, self.globals_and_locals)" in source
    # Every way into the sandbox goes through _run_code: none calls exec on its own.
    assert source.count("exec(") == 1 and source.count("self._run_code(") >= 4


def test_each_run_imports_the_workflow_modules_afresh_from_code_kept_once(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sandbox re-imports the workflow modules for every run (its isolation). The worker's
    runner keeps their code objects: each import is still a fresh module, executed from the code
    first loaded, not from what is on disk now."""
    from workers.main import workflow_runner
    from workers.sandbox import KeptCodeFinder, keep_code_of

    workflow_runner(stack.settings)
    finders = [f for f in sys.meta_path if isinstance(f, KeptCodeFinder)]
    assert [f.packages for f in finders] == [("workflows",)]

    package = f"kept_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    module = tmp_path / package / "steps.py"
    module.write_text("SEEN: list[int] = []\nVERSION = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    meta_path = list(sys.meta_path)
    keep_code_of([package])
    keep_code_of([package])  # once only
    try:
        assert len(sys.meta_path) == len(meta_path) + 1
        first = importlib.import_module(f"{package}.steps")
        first.SEEN.append(1)
        module.write_text("SEEN: list[int] = []\nVERSION = 2\n")
        os.utime(module, (module.stat().st_atime, module.stat().st_mtime + 10))
        for name in (package, f"{package}.steps"):
            del sys.modules[name]
        again = importlib.import_module(f"{package}.steps")
    finally:
        sys.meta_path[:] = meta_path
    assert again is not first and again.SEEN == [], "a fresh module, its own state"
    assert again.VERSION == 1, "executed from the code kept at the first import"


async def test_the_worker_is_tuned_from_settings(stack: Stack) -> None:
    """Concurrency, pollers and the sticky cache come from AIOS_* settings (bench/README.md has
    what each measured), not from the SDK's defaults alone."""
    tuned = stack.settings.model_copy(
        update={
            "max_concurrent_activities": 7,
            "max_concurrent_workflow_tasks": 9,
            "max_concurrent_local_activities": 11,
            "workflow_task_pollers": 3,
            "activity_task_pollers": 4,
            "max_cached_workflows": 13,
        }
    )
    resources = stack.resources
    original = resources.settings
    resources.settings = tuned
    try:
        worker = build_worker(stack.client, resources, task_queue=f"tuned-{uuid.uuid4().hex[:8]}")
    finally:
        resources.settings = original
    got = worker.config()
    assert got.get("max_concurrent_activities") == 7
    assert got.get("max_concurrent_workflow_tasks") == 9
    assert got.get("max_concurrent_local_activities") == 11
    assert got.get("workflow_task_poller_behavior") == PollerBehaviorSimpleMaximum(3)
    assert got.get("activity_task_poller_behavior") == PollerBehaviorSimpleMaximum(4)
    assert got.get("max_cached_workflows") == 13
