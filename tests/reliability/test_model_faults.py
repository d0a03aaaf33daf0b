"""The model misbehaving (issue 12): rate-limit bursts, server errors, a hang, a body that is not
JSON, a stream cut off half-way. Each run either completes or fails with a reason that names the
fault - never hangs, never retries forever. The scripted server speaks the real OpenAI protocol,
so the real client meets each fault as it would meet it from a provider."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import Stack
from tests.helpers import finish, start_plan, step
from tests.support.fake_openai import FakeOpenAI, ScriptedReply

# Seconds: generous for a run that completes here in one or two.
NEVER_HANGS_S = 60


def llm_step(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "answer",
        "kind": "llm",
        "args": {"instruction": "Say what AIOS is."},
        "retry": {"max_attempts": 3, "initial_interval_s": 0.1, "max_interval_s": 0.5},
        **overrides,
    }


async def run_one(stack: Stack, *steps: dict[str, Any]) -> Any:
    handle = await start_plan(stack.client, stack.settings.task_queue, list(steps))
    return await asyncio.wait_for(finish(handle), NEVER_HANGS_S)


@pytest.mark.parametrize(
    ("fault", "replies"),
    [
        (
            "a burst of 429s that ask to retry at once",
            [ScriptedReply(status=429, headers={"retry-after": "0"})] * 2,
        ),
        ("server errors", [ScriptedReply(status=500), ScriptedReply(status=503)]),
        ("a body that is not JSON", [ScriptedReply(raw_body="<html>bad gateway</html>")]),
        ("a stream cut off half-way", [ScriptedReply(content="one two three", cut_after_words=1)]),
    ],
)
async def test_a_passing_fault_costs_retries_and_the_run_completes(
    stack: Stack, fake_openai: FakeOpenAI, fault: str, replies: list[ScriptedReply]
) -> None:
    fake_openai.queue(*replies)
    state = await run_one(stack, llm_step())
    assert state.status == "completed", f"{fault}: {state.error}"
    assert state.result is not None and "Temporal workflows" in state.result.answer
    assert len(fake_openai.requests) > len(replies), f"{fault}: the good answer came after it"


async def test_a_hung_model_is_cut_off_by_the_steps_timeout_and_retried(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    fake_openai.queue(ScriptedReply(delay_s=30))
    started = asyncio.get_running_loop().time()
    state = await run_one(stack, llm_step(timeout_s=2))
    assert state.status == "completed", state.error
    assert step(state, "answer").attempts == 2
    assert asyncio.get_running_loop().time() - started < 20, "the hang was not waited out"


@pytest.mark.parametrize(
    ("fault", "reply", "reason"),
    [
        ("a model that keeps failing", ScriptedReply(status=500), "500"),
        ("a refused request", ScriptedReply(status=400, content="bad request"), "400"),
        (
            "a rate limit that never lifts",
            ScriptedReply(status=429, headers={"retry-after": "0"}),
            "429",
        ),
        (
            "a stream that is always cut",
            ScriptedReply(content="a b c", cut_after_words=1),
            "broke off its answer mid-stream",
        ),
    ],
)
async def test_a_lasting_fault_fails_the_run_with_its_reason_within_the_retry_budget(
    stack: Stack, fake_openai: FakeOpenAI, fault: str, reply: ScriptedReply, reason: str
) -> None:
    fake_openai.default_reply = reply
    try:
        state = await run_one(stack, llm_step())
    finally:
        fake_openai.default_reply = ScriptedReply()
    assert state.status == "failed", fault
    assert state.error and "answer" in state.error and reason in state.error, state.error
    assert step(state, "answer").attempts <= 3, "no more attempts than the step allows"
    # The client's own retries included, the model was asked a bounded number of times.
    assert len(fake_openai.requests) <= 3 * 3, len(fake_openai.requests)
