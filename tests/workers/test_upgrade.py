"""`aios upgrade check` (issue 22, item 4): open runs replayed against the code being deployed;
those that would break are named, with the reason, and the check fails."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
import uuid

from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from tests.conftest import REPO, Stack
from tests.helpers import APPROVAL_STEPS, start_plan, wait_for
from tests.support.changed_workflows import ChangedAgentRun
from workers.main import WORKFLOWS, build_id, build_worker, deployment_config
from workers.upgrade import check
from workflows.agent_run import AgentRunWorkflow


async def waiting_run(stack: Stack) -> WorkflowHandle[AgentRunWorkflow, object]:
    handle = await start_plan(stack.client, stack.settings.task_queue, APPROVAL_STEPS)
    await wait_for(handle, lambda s: bool(s.pending_approvals))
    return handle


async def test_open_runs_replay_against_this_code_and_a_breaking_change_is_named(
    stack: Stack, pg_url: str
) -> None:
    handle = await waiting_run(stack)
    try:
        queue = stack.settings.task_queue
        [verdict] = await check(stack.client, stack.settings, task_queue=queue)
        assert verdict.workflow_id == handle.id and verdict.failure is None
        assert not verdict.breaks and verdict.workflow_type == "AgentRunWorkflow"

        changed = [w for w in WORKFLOWS if w is not AgentRunWorkflow] + [ChangedAgentRun]
        [broken] = await check(stack.client, stack.settings, task_queue=queue, workflows=changed)
        assert broken.workflow_id == handle.id and broken.breaks
        assert broken.failure is not None and "nondetermin" in broken.failure.lower()

        # The command, as an operator runs it: ok, exit 0.
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "AIOS_TEMPORAL_ADDRESS": stack.client.service_client.config.target_host,
            "AIOS_DATABASE_URL": pg_url,
            "AIOS_DATA_DIR": str(stack.settings.data_dir),
        }
        cli = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "cli", "upgrade", "check", "--task-queue", queue],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cli.returncode == 0, cli.stdout + cli.stderr
        assert handle.id in cli.stdout and "0 would break" in cli.stdout
    finally:
        await handle.terminate("test over")


async def test_a_versioned_worker_runs_pinned_runs_on_the_dev_server(stack: Stack) -> None:
    """AIOS_WORKER_DEPLOYMENT on: the worker polls as a build of its deployment; once that build
    is current, new runs start on it, pinned, and `aios upgrade check` says so."""
    settings = stack.settings.model_copy(
        update={
            "worker_deployment": f"aios-{uuid.uuid4().hex[:6]}",
            "task_queue": f"{stack.settings.task_queue}-v",
        }
    )
    config = deployment_config(settings)
    assert config is not None and config.version.build_id == build_id(settings)
    resources = dataclasses.replace(stack.resources, settings=settings)
    async with build_worker(stack.client, resources):
        deadline = time.monotonic() + 30
        while True:  # the version exists once its worker has polled
            try:
                await stack.client.workflow_service.set_worker_deployment_current_version(
                    SetWorkerDeploymentCurrentVersionRequest(
                        namespace=stack.client.namespace,
                        deployment_name=config.version.deployment_name,
                        build_id=config.version.build_id,
                    )
                )
                break
            except RPCError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        handle = await start_plan(stack.client, settings.task_queue, APPROVAL_STEPS)
        try:
            await wait_for(handle, lambda s: bool(s.pending_approvals))
            [verdict] = await check(stack.client, settings, task_queue=settings.task_queue)
            assert verdict.pinned_to == config.version.build_id and not verdict.breaks
        finally:
            await handle.terminate("test over")
