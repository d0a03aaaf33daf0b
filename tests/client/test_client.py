"""`aios.client`: the typed client users' programs share with the CLI, sync and async, with
`wait()` like LangGraph's `runs.join`."""

from __future__ import annotations

import asyncio

import pytest

from aios.client import ApiClient, ApiError, Client
from aios.vocabulary import RunStatus
from tests.conftest import Stack, app_for, serving
from tests.helpers import APPROVAL_PLAN, SLOW_PLAN


async def test_the_sync_client_starts_waits_for_an_approval_answers_and_waits(
    stack: Stack,
) -> None:
    async with serving(app_for(stack)) as url:

        def script() -> tuple[RunStatus, RunStatus, str]:
            with Client(url, "test-key") as aios:
                run_id = aios.create_run({"goal": "send it", "plan": APPROVAL_PLAN}).run_id
                waiting = aios.wait(run_id, until_approval=True, timeout_s=60)
                [pending] = waiting.pending_approvals
                aios.approve(run_id, pending.approval_id, pending.args_hash)
                done = aios.wait(run_id, timeout_s=60)
                return waiting.status, done.status, done.result.answer if done.result else ""

        waiting, done, answer = await asyncio.to_thread(script)
    assert waiting == RunStatus.AWAITING_APPROVAL
    assert done == RunStatus.COMPLETED and "to all" in answer


async def test_wait_gives_up_after_its_timeout_and_errors_are_typed(stack: Stack) -> None:
    async with serving(app_for(stack)) as url, ApiClient(url, "test-key") as aios:
        run_id = (await aios.create_run({"goal": "slow", "plan": SLOW_PLAN})).run_id
        with pytest.raises(TimeoutError):
            await aios.wait(run_id, timeout_s=0.5)
        with pytest.raises(ApiError) as missing:
            await aios.get_run("run-nope")
        assert missing.value.status == 404
        assert (await aios.cancel(run_id)).status == "cancelling"
        assert (await aios.wait(run_id, timeout_s=60)).status == RunStatus.CANCELLED
