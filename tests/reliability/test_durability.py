"""Durability: a worker process killed in the middle of a run is replaced, the run completes, and a
side-effecting step's effect happened exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
from temporalio.testing import WorkflowEnvironment

from aios.config import Settings
from aios.models import ApprovalDecision
from tests.conftest import REPO
from tests.helpers import finish, start_plan, step, wait_for
from tests.support.fake_openai import FakeOpenAI, ScriptedReply
from workflows.agent_run import AgentRunWorkflow


def start_worker(
    settings: Settings, env: WorkflowEnvironment, pg_url: str, data: Path
) -> subprocess.Popen[bytes]:
    """A real `python -m workers.main` process, as production runs it."""
    environ = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "AIOS_DATABASE_URL": pg_url,
        "AIOS_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "AIOS_TASK_QUEUE": settings.task_queue,
        "AIOS_DATA_DIR": str(data),
        "AIOS_TOOL_PLUGINS": "tests.support.tools",
        "AIOS_MODEL_FAST": settings.model_fast,
        "AIOS_MODEL_STRONG": settings.model_strong,
        "AIOS_LOCAL_MODEL_URL": settings.local_model_url or "",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "workers.main"],
        cwd=REPO,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def test_killed_worker_is_replaced_and_side_effects_happen_once(
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    pg_url: str,
    pool: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    first = start_worker(settings, temporal_env, pg_url, tmp_path / "w1")
    second = None
    try:
        handle = await start_plan(
            temporal_env.client,
            settings.task_queue,
            [
                {
                    "id": "charge",
                    "kind": "tool",
                    "tool": "side_effect",
                    "args": {"then_sleep_s": 4},
                    "heartbeat_timeout_s": 2,
                    "retry": {"max_attempts": 5, "initial_interval_s": 0.2},
                },
                {"id": "after", "kind": "tool", "tool": "echo", "depends_on": ["charge"]},
            ],
        )
        # Wait until the effect is done and the step is still busy, then kill the worker hard.
        for _ in range(200):
            effects = await pool.fetchval(
                "SELECT count(*) FROM test_tool_log WHERE run_id = $1 AND event = 'effect'",
                handle.id,
            )
            if effects:
                break
            assert first.poll() is None, (
                first.stderr.read().decode()[-2000:] if first.stderr else ""
            )
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the side effect never happened")
        first.send_signal(signal.SIGKILL)
        first.wait()

        second = start_worker(settings, temporal_env, pg_url, tmp_path / "w2")
        state = await asyncio.wait_for(finish(handle), timeout=90)
        assert state.status == "completed", state.error
        assert step(state, "charge").attempts == 2, "the interrupted step ran again elsewhere"
        effects = await pool.fetchval(
            "SELECT count(*) FROM test_tool_log WHERE run_id = $1 AND event = 'effect'", handle.id
        )
        assert effects == 1, "the side effect happened exactly once"
        await wait_for(handle, lambda s: s.status == "completed")
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


async def test_an_agent_loop_resumes_on_another_worker_without_repeating_a_tool_call(
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    pg_url: str,
    pool: asyncpg.Pool,
    tmp_path: Path,
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.queue(
        ScriptedReply(tool_calls=[{"name": "side_effect", "arguments": {"then_sleep_s": 4}}]),
        ScriptedReply(content="Charged once."),
    )
    plan = [
        {
            "id": "agent",
            "kind": "agent",
            "args": {"instruction": "Charge the card.", "tools": ["side_effect"]},
            "heartbeat_timeout_s": 2,
        }
    ]
    first = start_worker(settings, temporal_env, pg_url, tmp_path / "w1")
    second = None
    try:
        handle = await start_plan(temporal_env.client, settings.task_queue, plan)
        state = await wait_for(handle, lambda s: bool(s.pending_approvals), timeout_s=60)
        pending = state.pending_approvals[0]
        await handle.execute_update(
            AgentRunWorkflow.approve,
            ApprovalDecision(approval_id=pending.approval_id, args_hash=pending.args_hash),
        )
        for _ in range(200):  # the effect is done and the tool is still busy: kill the worker
            if await pool.fetchval(
                "SELECT count(*) FROM test_tool_log WHERE run_id = $1 AND event = 'effect'",
                handle.id,
            ):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the side effect never happened")
        first.send_signal(signal.SIGKILL)
        first.wait()
        second = start_worker(settings, temporal_env, pg_url, tmp_path / "w2")
        state = await asyncio.wait_for(finish(handle), timeout=90)
        assert state.status == "completed", state.error
        assert state.result is not None and state.result.answer == "Charged once."
        effects = await pool.fetchval(
            "SELECT count(*) FROM test_tool_log WHERE run_id = $1 AND event = 'effect'", handle.id
        )
        assert effects == 1, "the interrupted tool call did not repeat its effect"
        assert len(fake_openai.requests) == 2, "no model turn was asked twice"
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
