"""Every priced call is reserved in the spend ledger (issue 24), not only the model steps: a memory
step's conversation summary and a paid web search are charged to the run's user and tenant, and
refused with the named reason when they would cross the user's cap."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.knowledge import LocalEmbedder
from activities.llm.activities import LlmActivities
from activities.llm.caller import activity_account
from activities.memory import RECENT_MESSAGES, MemoryActivities
from activities.tools import build_registry
from activities.tools.invoke import ToolActivities
from activities.tools.registry import ToolServices
from activities.tools.search_providers import QUERY_USD
from aios.config import Settings
from aios.models import AgentRunInput, StepInput
from aios.plan import Plan
from aios.stores.ledger import LedgerStore
from aios.stores.ledger.deferred import flush_deferred_settles
from tests.conftest import Stack, run_id, running_stack
from tests.helpers import finish
from tests.support.fake_openai import FakeOpenAI, ScriptedReply
from tests.tools.scripted_http import json_answer, scripted_server
from workflows.agent_run import AgentRunWorkflow

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
    await flush_deferred_settles()  # settles wait to be carried (decision 0055)
    entries = await stack.pool.fetch("SELECT * FROM ledger_entries WHERE tenant = 'default'")
    assert [(e["user_id"], e["status"], e["input_tokens"]) for e in entries] == [
        ("bob", "settled", done.usage.input_tokens)
    ]


def _spent(tenant: str) -> float:
    labels = {"call": "web_search:brave", "tenant": tenant}
    return REGISTRY.get_sample_value("aios_paid_call_cost_usd_total", labels) or 0.0


async def test_paid_web_searches_are_reserved_and_the_one_over_the_cap_is_refused(
    tmp_path: Path, pool: asyncpg.Pool
) -> None:
    tenant = "search-ledger"
    ledger = LedgerStore(pool)
    # Brave's list price is $0.005 a query: two fit under $0.012, the third does not.
    assert QUERY_USD["brave"] == 0.005
    await ledger.set_cap(tenant, "user", "ada", "day", usd=0.012, tokens=None, created_by="test")
    answer = {
        "web": {"results": [{"title": "T", "url": "https://example.org/", "description": "d"}]}
    }
    with scripted_server(lambda _: json_answer(answer)) as (base, requests):
        settings = Settings(
            environment="test",
            data_dir=tmp_path,
            web_search_provider="brave",
            web_search_url=base,
            web_search_api_key=SecretStr("sk-brave"),
        )
        tools = ToolActivities(
            build_registry(settings=settings), pool, ToolServices(settings=settings)
        )

        async def search(n: int) -> None:
            env = ActivityEnvironment()
            env.info = dataclasses.replace(env.info, workflow_id="run-search", activity_id=str(n))
            await env.run(
                tools.invoke_tool,
                StepInput(
                    run_id="run-search",
                    step_id=f"search-{n}",
                    tenant=tenant,
                    user_id="ada",
                    tool="web_search",
                    args={"query": f"durable agents {n}", "k": 1},
                    idempotency_key=f"run-search/search-{n}",
                ),
            )

        before = _spent(tenant)
        await search(1)
        await search(2)
        with pytest.raises(ApplicationError) as refused:
            await search(3)
    assert refused.value.non_retryable
    assert refused.value.message.startswith("budget_exhausted: user ada, day ")
    assert len(requests) == 2, "the refused query was never sent"
    await flush_deferred_settles()  # settles wait to be carried (decision 0055)
    entries = await pool.fetch(
        "SELECT model, status, usd FROM ledger_entries WHERE tenant = $1", tenant
    )
    assert [tuple(e) for e in entries] == [("web_search:brave", "settled", Decimal("0.005"))] * 2
    # Prometheus agrees with the ledger.
    assert _spent(tenant) - before == pytest.approx(float(sum(e["usd"] for e in entries)))


async def test_an_agents_paid_search_over_the_run_budget_stops_the_run(
    settings: Settings,
    pool: asyncpg.Pool,
    temporal_env: WorkflowEnvironment,
    embedder: LocalEmbedder,
    fake_openai: FakeOpenAI,
) -> None:
    """The agent's model turns are free (the local model), its Brave query is $0.005: over the
    run's $0.004 the query is refused before it is sent, and the run fails with the reason."""
    answer: dict[str, Any] = {"web": {"results": []}}
    with scripted_server(lambda _: json_answer(answer)) as (base, requests):
        settings = settings.model_copy(
            update={
                "web_search_provider": "brave",
                "web_search_url": base,
                "web_search_api_key": SecretStr("sk-brave"),
            }
        )
        fake_openai.queue(
            ScriptedReply(tool_calls=[{"name": "web_search", "arguments": {"query": "q"}}]),
            ScriptedReply(content="Nothing found."),
        )
        async with running_stack(settings, pool, temporal_env, embedder) as stack:
            handle = await stack.client.start_workflow(
                AgentRunWorkflow.run,
                AgentRunInput(
                    goal="look it up",
                    plan=Plan.model_validate(
                        {
                            "steps": [
                                {
                                    "id": "look",
                                    "kind": "agent",
                                    "args": {
                                        "instruction": "Search the web.",
                                        "tools": ["web_search"],
                                        "max_turns": 2,
                                    },
                                }
                            ]
                        }
                    ),
                    budget_usd=0.004,
                ),
                id=run_id(),
                task_queue=settings.task_queue,
            )
            state = await finish(handle)
    assert state.status == "failed"
    assert state.error is not None and f"budget_exhausted: run {handle.id}" in state.error
    assert requests == [], "the refused query was never sent"


async def test_a_workflow_that_continued_as_new_is_charged_for_its_renumbered_activities(
    pool: asyncpg.Pool,
) -> None:
    """Activity ids start at 1 again in each run of a workflow id (a chat session continues as
    new): the same activity id in the next run is another call, not a repeat of the first."""
    ledger = LedgerStore(pool)

    async def one_paid_call() -> None:
        account = activity_account(ledger, None, tenant="can-ledger", user_id="ada")
        async with account.charged("web_search:brave", 0.005):
            pass

    for run in ("first-run", "second-run"):
        env = ActivityEnvironment()
        env.info = dataclasses.replace(
            env.info, workflow_id="chat-s1", workflow_run_id=run, activity_id="1"
        )
        await env.run(one_paid_call)
    await flush_deferred_settles()  # settles wait to be carried (decision 0055)
    charged = await pool.fetchval(
        "SELECT sum(usd) FROM ledger_entries WHERE tenant = 'can-ledger' AND status = 'settled'"
    )
    assert charged == Decimal("0.010")


PRICED_TOOLS = """tools:
  - name: lookup_price
    description: A paid lookup.
    endpoint: {base}/lookup
    method: GET
    input_schema: {{type: object, properties: {{q: {{type: string}}}}}}
    price_usd: 0.004
  - name: file_order
    description: A paid write.
    endpoint: {base}/orders
    input_schema: {{type: object, properties: {{item: {{type: string}}}}}}
    side_effects: writes
    price_usd: 0.004
"""


async def test_priced_http_tools_are_reserved_and_a_repeated_write_is_not_charged_again(
    tmp_path: Path, pool: asyncpg.Pool
) -> None:
    """An operator's YAML tool with `price_usd` is charged like a paid web search: reserved
    before it is sent, refused over a cap; a write answered from its record costs nothing."""
    tenant = "http-tool-ledger"
    await LedgerStore(pool).set_cap(
        tenant, "user", "ada", "day", usd=0.01, tokens=None, created_by="test"
    )
    with scripted_server(lambda _: json_answer({"ok": True})) as (base, requests):
        path = tmp_path / "tools.yaml"
        path.write_text(PRICED_TOOLS.format(base=base))
        settings = Settings(environment="test", data_dir=tmp_path)
        registry = build_registry(settings=settings, tool_files=[path])
        tools = ToolActivities(registry, pool, ToolServices(settings=settings))

        async def invoke(n: int, tool: str, args: dict[str, Any], key: str) -> None:
            env = ActivityEnvironment()
            env.info = dataclasses.replace(env.info, workflow_id="run-tools", activity_id=str(n))
            await env.run(
                tools.invoke_tool,
                StepInput(
                    run_id="run-tools",
                    step_id=f"s{n}",
                    tenant=tenant,
                    user_id="ada",
                    tool=tool,
                    args=args,
                    idempotency_key=key,
                ),
            )

        await invoke(1, "lookup_price", {"q": "a"}, "run-tools/s1")
        await invoke(2, "file_order", {"item": "pumps"}, "run-tools/s2")
        await invoke(3, "file_order", {"item": "pumps"}, "run-tools/s2")  # a retried step
        with pytest.raises(ApplicationError) as refused:
            await invoke(4, "lookup_price", {"q": "b"}, "run-tools/s4")  # $0.012 > $0.01
    assert refused.value.non_retryable
    assert refused.value.message.startswith("budget_exhausted: user ada, day ")
    assert [r.path for r in requests] == ["/lookup", "/orders"]
    await flush_deferred_settles()  # settles wait to be carried (decision 0055)
    entries = await pool.fetch(
        "SELECT model, status, usd FROM ledger_entries WHERE tenant = $1 ORDER BY created_at",
        tenant,
    )
    assert [tuple(e) for e in entries] == [
        ("tool:lookup_price", "settled", Decimal("0.004")),
        ("tool:file_order", "settled", Decimal("0.004")),
    ]
