"""The spend ledger in runs, on real Temporal and PostgreSQL with the scripted OpenAI server: a
skill's child run draws on its parent's budget, and an unpriced model is refused under a USD cap.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.knowledge import LocalEmbedder
from aios.config import Settings
from aios.models import AgentRunInput
from aios.plan import Plan
from aios.stores.ledger.deferred import flush_deferred_settles
from tests.conftest import run_id, running_stack
from tests.helpers import finish
from tests.support.fake_openai import FakeOpenAI
from workflows.agent_run import AgentRunWorkflow

SKILL = """name: say
version: 1
description: Say one thing.
steps:
  - id: say
    kind: llm
    args: {instruction: "Say hello.", model: fast, max_tokens: 1000}
"""


def _settings(settings: Settings, tmp_path: Path, fake_openai: FakeOpenAI) -> Settings:
    skills = tmp_path / "skills"
    skills.mkdir()
    (skills / "say.yaml").write_text(SKILL)
    return settings.model_copy(
        update={
            "skills_dir": skills,
            "model_fast": "openai:gpt-4o-mini",
            "model_strong": "openai:gpt-4o-mini",
            "openai_api_key": SecretStr("sk-test"),
            "openai_base_url": fake_openai.base_url,
            # The scripted server reports 100 prompt and 20 answer tokens a call: $0.0031 each;
            # the worst case of a call with max_tokens 1000 is over $0.005.
            "model_prices": {"openai:gpt-4o-mini": (30.0, 5.0), "openai:gpt-9": (1.0, 1.0)},
        }
    )


async def test_three_skill_steps_stop_at_the_run_budget(
    settings: Settings,
    tmp_path: Path,
    pool: asyncpg.Pool,
    temporal_env: WorkflowEnvironment,
    embedder: LocalEmbedder,
    fake_openai: FakeOpenAI,
) -> None:
    settings = _settings(settings, tmp_path, fake_openai)
    steps = [
        {"id": f"s{i}", "kind": "skill", "args": {"name": "say"}}
        | ({"depends_on": [f"s{i - 1}"]} if i > 1 else {})
        for i in (1, 2, 3)
    ]
    async with running_stack(settings, pool, temporal_env, embedder) as stack:
        handle = await stack.client.start_workflow(
            AgentRunWorkflow.run,
            AgentRunInput(
                goal="say three things",
                tenant="ledger",
                user_id="ada",
                plan=Plan.model_validate({"steps": steps}),
                budget_usd=0.01,
            ),
            id=run_id(),
            task_queue=settings.task_queue,
        )
        state = await finish(handle)
    assert state.status == "failed"
    assert state.error is not None and f"budget_exhausted: run {handle.id}" in state.error
    calls = len(fake_openai.requests)
    assert 1 <= calls <= 2, calls  # a copy of the budget per skill made three calls
    spent = await pool.fetchval(
        "SELECT usd FROM ledger_counters WHERE scope = $1 AND period = 'run'", f"run:{handle.id}"
    )
    assert 0 < spent <= 0.01
    await flush_deferred_settles()  # settles wait to be carried (decision 0055)
    entries = await pool.fetch(
        "SELECT status, skill, run_id FROM ledger_entries WHERE root_run_id = $1", handle.id
    )
    assert [(r["status"], r["skill"]) for r in entries] == [("settled", "say")] * calls
    assert {r["run_id"] for r in entries} <= {f"{handle.id}-s1", f"{handle.id}-s2"}


async def test_an_unpriced_model_is_refused_under_a_run_budget(
    settings: Settings,
    tmp_path: Path,
    pool: asyncpg.Pool,
    temporal_env: WorkflowEnvironment,
    embedder: LocalEmbedder,
    fake_openai: FakeOpenAI,
) -> None:
    settings = _settings(settings, tmp_path, fake_openai)
    steps = [{"id": "a", "kind": "llm", "args": {"instruction": "Hi.", "model": "openai:gpt-5-x"}}]
    async with running_stack(settings, pool, temporal_env, embedder) as stack:
        handle = await stack.client.start_workflow(
            AgentRunWorkflow.run,
            AgentRunInput(
                goal="unpriced",
                plan=Plan.model_validate({"steps": steps}),
                budget_usd=5.0,
            ),
            id=run_id(),
            task_queue=settings.task_queue,
        )
        state = await finish(handle)
    assert state.status == "failed"
    assert state.error is not None
    assert "model_unpriced: openai:gpt-5-x" in state.error and "AIOS_MODEL_PRICES" in state.error
    assert fake_openai.requests == []
