"""Every priced call is reserved in the spend ledger (issue 24), not only the model steps: a memory
step's conversation summary is charged to the run's user and tenant, and refused with the named
reason when it would cross the user's cap."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.llm.activities import LlmActivities
from activities.memory import RECENT_MESSAGES, MemoryActivities
from aios.models import StepInput
from aios.stores.ledger import LedgerStore
from tests.conftest import Stack

SUMMARY_NEEDED = RECENT_MESSAGES + 11  # more than FOLD_SLACK behind: the reader folds first


async def test_a_memory_steps_summary_is_reserved_and_refused_over_the_users_cap(
    stack: Stack,
) -> None:
    memory = stack.resources.memory
    for user in ("ada", "bob"):
        for i in range(SUMMARY_NEEDED):
            await memory.append_message(
                "default",
                f"s-{user}",
                role="user",
                content=f"message {i}",
                message_id=f"m{i}",
                user_id=user,
            )
    ledger = LedgerStore(stack.pool)
    await ledger.set_cap("default", "user", "ada", "day", usd=None, tokens=50, created_by="test")
    activities = MemoryActivities(
        memory, LlmActivities(stack.resources.router, stack.resources.registry, stack.pool)
    )

    def step(user: str) -> StepInput:
        return StepInput(
            run_id=f"run-{user}",
            step_id="context",
            tenant="default",
            user_id=user,
            args={"op": "read", "session_id": f"s-{user}", "conversation": True},
            idempotency_key=f"run-{user}/context",
        )

    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(activities.memory, step("ada"))
    assert refused.value.non_retryable
    assert refused.value.message.startswith("budget_exhausted: user ada, day ")

    done = await ActivityEnvironment().run(activities.memory, step("bob"))
    assert done.usage.input_tokens > 0
    entries = await stack.pool.fetch("SELECT * FROM ledger_entries WHERE tenant = 'default'")
    assert [(e["user_id"], e["status"], e["input_tokens"]) for e in entries] == [
        ("bob", "settled", done.usage.input_tokens)
    ]
