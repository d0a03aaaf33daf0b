"""Approval timeouts escalate as configured, on the time-skipping test server (a day passes in
milliseconds)."""

from __future__ import annotations

import asyncpg
from temporalio.testing import WorkflowEnvironment

from activities.knowledge import LocalEmbedder as Embedder
from aios.config import Settings
from aios.models import RunState
from tests.helpers import finish, start_plan, step
from tests.support import tools as test_tools
from workers.main import Resources, build_worker


def approval_plan(on_timeout: str, on_failure: str = "fail") -> list[dict[str, object]]:
    return [
        {
            "id": "review",
            "kind": "approval",
            "approval": {"reason": "legal review", "timeout_s": 86400, "on_timeout": on_timeout},
            "on_failure": on_failure,
            "args": {"document": "contract.pdf"},
        },
        {"id": "after", "kind": "tool", "tool": "echo", "args": {"value": "went ahead"}},
    ]


async def run_plan(
    env: WorkflowEnvironment,
    settings: Settings,
    pool: asyncpg.Pool,
    embedder: Embedder,
    plan: list[dict[str, object]],
) -> RunState:
    resources = await Resources.open(settings, pool=pool, embedder=embedder)
    test_tools.register(resources.registry)
    async with build_worker(env.client, resources):
        handle = await start_plan(env.client, settings.task_queue, plan)
        state = await finish(handle)  # the test server skips the day-long wait
    await resources.aclose()
    return state


async def test_unanswered_approval_fails_the_run_as_timed_out(
    skipping_env: WorkflowEnvironment, settings: Settings, pool: asyncpg.Pool, embedder: Embedder
) -> None:
    state = await run_plan(skipping_env, settings, pool, embedder, approval_plan("fail"))
    assert state.status == "timed_out"
    assert "not answered within 86400s" in (state.error or "")
    assert state.pending_approvals == []


async def test_unanswered_approval_can_count_as_a_rejection(
    skipping_env: WorkflowEnvironment, settings: Settings, pool: asyncpg.Pool, embedder: Embedder
) -> None:
    state = await run_plan(
        skipping_env, settings, pool, embedder, approval_plan("reject", on_failure="continue")
    )
    assert state.status == "completed"
    assert step(state, "review").status == "failed"
    assert "counts as rejected" in (step(state, "review").error or "")
    assert step(state, "after").status == "completed"
