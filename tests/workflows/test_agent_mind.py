"""The agent's mind (issue 7): both providers over their real HTTP protocols, the `agent` step,
the LLM and hybrid planners, routing between models, budgets."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.knowledge import LocalEmbedder as Embedder
from aios.config import Settings
from aios.models import ApprovalDecision, EventsQuery
from tests.conftest import AUTH, Stack, api_client, app_for, running_stack, serving
from tests.helpers import AGENT_PLAN, AGENT_SCRIPT, finish, start_plan, step, wait_for
from tests.reliability.conftest import wait_status
from tests.support.fake_openai import FakeAnthropic, FakeOpenAI, ScriptedReply, ScriptedServer
from workflows.agent_run import AgentRunWorkflow

StackFactory = Callable[..., Any]


@pytest.fixture
def stack_with(
    settings: Settings, pool: asyncpg.Pool, temporal_env: WorkflowEnvironment, embedder: Embedder
) -> StackFactory:
    """A stack whose settings differ from the default test settings (other models)."""

    def make(**overrides: Any) -> Any:
        return running_stack(settings.model_copy(update=overrides), pool, temporal_env, embedder)

    return make


def anthropic_models(fake: FakeAnthropic) -> dict[str, Any]:
    return {
        "model_fast": "anthropic:claude-test-fast",
        "model_strong": "anthropic:claude-test",
        "anthropic_api_key": SecretStr("sk-ant-test"),
        "anthropic_base_url": fake.base_url,
    }


def openai_models(fake: FakeOpenAI) -> dict[str, Any]:
    return {
        "model_fast": "openai:gpt-4.1-mini",
        "model_strong": "openai:gpt-4.1",
        "openai_api_key": SecretStr("sk-test"),
        "openai_base_url": fake.base_url,
    }


ASK = {
    "id": "ask",
    "kind": "llm",
    "args": {"instruction": "Say hi"},
    "retry": {"max_attempts": 3, "initial_interval_s": 0.1},
}


# --- providers ------------------------------------------------------------------------------


async def test_anthropic_models_answer_plain_and_structured(
    stack_with: StackFactory, fake_anthropic: FakeAnthropic
) -> None:
    structured = {
        "id": "points",
        "kind": "llm",
        "depends_on": ["ask"],
        "args": {
            "instruction": "Key points",
            "model": "strong",
            "output_schema": {
                "type": "object",
                "properties": {"key_points": {"type": "array", "items": {"type": "string"}}},
                "required": ["key_points"],
            },
        },
    }
    async with stack_with(**anthropic_models(fake_anthropic)) as stack:
        state = await finish(
            await start_plan(stack.client, stack.settings.task_queue, [ASK, structured])
        )
    assert state.status == "completed", state.error
    plain, shaped = fake_anthropic.requests
    assert plain["model"] == "claude-test-fast" and plain["system"]
    assert shaped["output_config"]["format"]["type"] == "json_schema"
    assert state.usage.input_tokens == 200 and state.usage.output_tokens == 40


async def test_anthropic_errors_are_classified(
    stack_with: StackFactory, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.queue(ScriptedReply(status=429, headers={"retry-after": "0"}))
    async with stack_with(**anthropic_models(fake_anthropic)) as stack:
        state = await finish(await start_plan(stack.client, stack.settings.task_queue, [ASK]))
        assert state.status == "completed" and step(state, "ask").attempts == 2
        fake_anthropic.reset()
        fake_anthropic.queue(ScriptedReply(status=400, content="prompt is too long"))
        state = await finish(await start_plan(stack.client, stack.settings.task_queue, [ASK]))
    assert state.status == "failed" and "prompt is too long" in (state.error or "")
    assert len(fake_anthropic.requests) == 1, "a 400 is not retried"


async def test_a_stream_broken_off_is_told_apart_from_a_model_out_of_reach(
    stack_with: StackFactory, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    """Both providers: the server answered, then the connection broke mid-answer. The step is
    retried, and the reason an operator reads says so, not that the model could not be reached."""
    cut = ScriptedReply(content="one two three", cut_after_words=1)
    step_def = {**ASK, "retry": {"max_attempts": 2, "initial_interval_s": 0.1}}
    fake_openai.default_reply = fake_anthropic.default_reply = cut
    try:
        for models in (openai_models(fake_openai), anthropic_models(fake_anthropic)):
            async with stack_with(**models) as stack:
                handle = await start_plan(stack.client, stack.settings.task_queue, [step_def])
                state = await finish(handle)
            assert state.status == "failed" and step(state, "ask").attempts == 2
            assert "broke off its answer mid-stream" in (state.error or ""), state.error
    finally:
        fake_openai.default_reply = fake_anthropic.default_reply = ScriptedReply()


async def test_an_outage_falls_back_to_the_other_provider_on_the_last_attempt(
    stack_with: StackFactory, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    fake_openai.queue(ScriptedReply(status=503), ScriptedReply(status=503))
    models = {**openai_models(fake_openai), **anthropic_models(fake_anthropic)}
    models.update(model_fast="openai:gpt-4.1-mini", model_fallback="anthropic:claude-test")
    step_def = {**ASK, "retry": {"max_attempts": 2, "initial_interval_s": 0.1}}
    async with stack_with(**models) as stack:
        handle = await start_plan(stack.client, stack.settings.task_queue, [step_def])
        state = await finish(handle)
        events = await handle.query(AgentRunWorkflow.events, EventsQuery())
    assert state.status == "completed", state.error
    assert len(fake_openai.requests) == 2 and len(fake_anthropic.requests) == 1
    [routed] = [e for e in events if e.type == "model.routed"]
    assert routed.data["kind"] == "fallback" and routed.data["to_model"] == "anthropic:claude-test"


# --- the agent step ------------------------------------------------------------------------


async def _agent_run_with_approval(stack: Stack) -> Any:
    handle = await start_plan(stack.client, stack.settings.task_queue, AGENT_PLAN)
    state = await wait_for(handle, lambda s: bool(s.pending_approvals))
    [pending] = state.pending_approvals
    assert pending.args == {"tool": "guarded_echo", "args": {"value": "published"}}
    assert "guarded_echo" in pending.reason
    await handle.execute_update(
        AgentRunWorkflow.approve,
        ApprovalDecision(approval_id=pending.approval_id, args_hash=pending.args_hash),
    )
    return handle, await finish(handle)


async def test_an_agent_calls_tools_in_parallel_then_waits_for_approval(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    fake_openai.queue(*AGENT_SCRIPT)
    handle, state = await _agent_run_with_approval(stack)
    assert state.status == "completed", state.error
    assert state.result is not None and state.result.answer.startswith("Done")
    turns = step(state, "work").turns
    assert [len(t.tool_calls) for t in turns] == [2, 1, 0]
    assert [c.status for c in turns[0].tool_calls] == ["completed", "completed"]
    # The model saw the tool results, fenced as untrusted data.
    second = fake_openai.requests[1]["messages"]
    results = [m for m in second if m["role"] == "tool"]
    assert len(results) == 2 and all("BEGIN TOOL RESULT fence-" in m["content"] for m in results)
    assert '"fact one"' in results[0]["content"] and '"words": 2' in results[1]["content"]
    assert [t["function"]["name"] for t in fake_openai.requests[0]["tools"]] == [
        "echo",
        "word_count",
        "guarded_echo",
    ]
    events = await handle.query(AgentRunWorkflow.events, EventsQuery())
    kinds = [e.type for e in events]
    assert kinds.count("agent.turn") == 3 and kinds.count("agent.tool_call") == 3
    assert state.usage.input_tokens == 300


async def test_an_agent_works_the_same_on_anthropic(
    stack_with: StackFactory, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.queue(*AGENT_SCRIPT)
    async with stack_with(**anthropic_models(fake_anthropic)) as stack:
        _, state = await _agent_run_with_approval(stack)
    assert state.status == "completed", state.error
    third = fake_anthropic.requests[2]["messages"]
    tool_results = [
        b
        for m in third
        if isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result"
    ]
    assert len(tool_results) == 3, "tool results travel as tool_result blocks"


async def test_an_agent_is_told_about_tools_it_may_not_use(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    fake_openai.queue(
        ScriptedReply(tool_calls=[{"name": "blob", "arguments": {"size": 10}}]),
        ScriptedReply(content="I could not use that tool."),
    )
    state = await finish(await start_plan(stack.client, stack.settings.task_queue, AGENT_PLAN))
    assert state.status == "completed"
    [call] = step(state, "work").turns[0].tool_calls
    assert call.status == "refused"
    assert "not available" in fake_openai.requests[1]["messages"][-1]["content"]


async def test_an_agent_stops_at_max_turns(stack: Stack, fake_openai: FakeOpenAI) -> None:
    loop = ScriptedReply(tool_calls=[{"name": "echo", "arguments": {"value": 1}}])
    fake_openai.queue(loop, loop)
    plan = [{**AGENT_PLAN[0], "args": {**AGENT_PLAN[0]["args"], "max_turns": 2}}]
    state = await finish(await start_plan(stack.client, stack.settings.task_queue, plan))
    assert state.status == "completed" and len(step(state, "work").turns) == 2
    assert "max_turns" in (await _output(stack, state.run_id, "work"))["stopped"]


async def _output(stack: Stack, run_id: str, step_id: str) -> Any:
    from aios.models import StepOutputQuery

    handle = stack.client.get_workflow_handle(run_id)
    return (
        await handle.query(AgentRunWorkflow.step_output, StepOutputQuery(step_id=step_id))
    ).output


# --- planners ------------------------------------------------------------------------------

GOOD_PLAN = (
    '{"steps": [{"id": "say", "kind": "tool", "tool": "echo", "args": {"value": "planned"}, '
    '"depends_on": []}], "result_step": "say"}'
)


async def test_the_llm_planner_repairs_an_invalid_plan_once(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.queue(
        ScriptedReply(content=GOOD_PLAN.replace('"echo"', '"teleport"')),
        ScriptedReply(content=GOOD_PLAN),
    )
    created = (await api.post("/v1/runs", json={"goal": "echo planned", "planner": "llm"})).json()
    run = await wait_status(api, created["run_id"], "completed", "failed")
    assert run["status"] == "completed", run.get("error")
    assert run["result"]["answer"] == '"planned"'
    repair = fake_openai.requests[1]["messages"][-1]["content"]
    assert "unknown tool 'teleport'" in repair


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (GOOD_PLAN.replace('"echo"', '"teleport"'), "unknown tool 'teleport'"),
        (
            GOOD_PLAN.replace(
                '"echo", "args": {"value": "planned"}', '"timed_sleep", "args": {"seconds": "soon"}'
            ),
            "seconds",
        ),
        (
            '{"steps": [{"id": "a", "kind": "llm", "args": {"instruction": "x"}, '
            '"depends_on": ["b"]}, {"id": "b", "kind": "llm", "args": {"instruction": "y"}, '
            '"depends_on": ["a"]}]}',
            "cycle",
        ),
    ],
)
async def test_a_plan_invalid_after_repair_fails_the_run_with_the_errors(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI, bad: str, words: str
) -> None:
    fake_openai.queue(ScriptedReply(content=bad), ScriptedReply(content=bad))
    created = (await api.post("/v1/runs", json={"goal": "do it", "planner": "llm"})).json()
    run = await wait_status(api, created["run_id"], "failed")
    assert "invalid after one repair" in run["error"] and words in run["error"]


async def test_hybrid_sends_questions_to_the_rule_planner_and_errands_to_the_llm(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI
) -> None:
    question = (await api.post("/v1/runs", json={"goal": "How do approvals work?"})).json()
    run = await wait_status(api, question["run_id"], "completed")
    assert [s["id"] for s in run["plan"]] == ["retrieve", "extract", "trends", "report"]
    fake_openai.reset()
    fake_openai.queue(ScriptedReply(content=GOOD_PLAN))
    errand = (await api.post("/v1/runs", json={"goal": "Echo the word planned"})).json()
    run = await wait_status(api, errand["run_id"], "completed")
    assert [s["id"] for s in run["plan"]] == ["say"]
    assert "response_format" in fake_openai.requests[0], "the plan came as structured output"


# --- budgets -------------------------------------------------------------------------------


async def test_a_run_stops_before_the_call_that_would_exceed_its_token_budget(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI
) -> None:
    # Each call could use its prompt (~20 tokens) plus 300 answer tokens: the first fits in 400,
    # the second does not fit in the 280 left after the first used 120.
    short = {**ASK, "args": {"instruction": "Say hi", "max_tokens": 300}}
    plan = {"steps": [short, {**short, "id": "again", "depends_on": ["ask"]}]}
    created = (
        await api.post("/v1/runs", json={"goal": "g", "plan": plan, "max_tokens": 400})
    ).json()
    run = await wait_status(api, created["run_id"], "failed")
    assert "token budget reached" in run["error"]
    assert len(fake_openai.requests) == 1, "the second call was never made"
    assert run["usage"]["input_tokens"] + run["usage"]["output_tokens"] == 120


async def test_a_run_stops_before_the_call_that_would_exceed_its_cost_budget(
    stack_with: StackFactory, fake_openai: FakeOpenAI
) -> None:
    async with (
        stack_with(**openai_models(fake_openai)) as stack,
        api_client(app_for(stack)) as api,
    ):
        body = {"goal": "g", "plan": {"steps": [ASK]}, "budget_usd": 0.0001}
        created = (await api.post("/v1/runs", json=body)).json()
        run = await wait_status(api, created["run_id"], "failed")
    assert "cost budget reached" in run["error"] and "gpt-4.1-mini" in run["error"]
    assert fake_openai.requests == []


async def test_the_streaming_path_delivers_the_whole_answer(fake_openai: FakeOpenAI) -> None:
    """Providers stream when asked, reassembling text and usage from the chunks."""
    from activities.llm.base import LLMRequest, Message
    from activities.llm.openai_compat import OpenAICompatProvider

    provider = OpenAICompatProvider(name="openai", api_key="k", base_url=fake_openai.base_url)
    deltas: list[str] = []

    async def sink(text: str) -> None:
        deltas.append(text)

    try:
        response = await provider.complete(
            LLMRequest(model="m", messages=[Message(role="user", content="hi")]), on_delta=sink
        )
    finally:
        await provider.aclose()
    assert len(deltas) > 3 and "".join(deltas).strip() == response.text.strip()
    assert response.usage.input_tokens == 100


async def test_requests_reach_the_server_as_the_chat_completions_protocol_has_them(
    fake_openai: FakeOpenAI,
) -> None:
    """The provider posts its own wire-form body (not through `create`'s parameter transform):
    every field arrives as the protocol names it, server-specific fields included."""
    from activities.llm.base import LLMRequest, Message
    from activities.llm.openai_compat import OpenAICompatProvider

    provider = OpenAICompatProvider(
        name="local", api_key="k", base_url=fake_openai.base_url, extra_body={"repeat_last_n": 64}
    )
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    fake_openai.queue(ScriptedReply(content='{"ok": true}'))

    async def sink(text: str) -> None:
        pass

    try:
        answered = await provider.complete(
            LLMRequest(
                model="m",
                messages=[Message(role="system", content="s"), Message(role="user", content="u")],
                max_tokens=32,
                temperature=0.5,
                output_schema=schema,
            )
        )
        await provider.complete(
            LLMRequest(model="m", messages=[Message(role="user", content="hi")]), on_delta=sink
        )
    finally:
        await provider.aclose()
    plain, streamed = fake_openai.requests[-2:]
    assert answered.text == '{"ok": true}'
    assert plain == {
        "model": "m",
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
        "max_tokens": 32,
        "temperature": 0.5,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": schema, "strict": True},
        },
        "repeat_last_n": 64,
    }
    assert streamed["stream"] is True and streamed["stream_options"] == {"include_usage": True}
    assert streamed["repeat_last_n"] == 64


# --- streaming ------------------------------------------------------------------------------

SLOW_START = {"id": "wait", "kind": "tool", "tool": "timed_sleep", "args": {"seconds": 1}}
STREAMED = {
    "id": "write",
    "kind": "llm",
    "depends_on": ["wait"],
    "args": {"instruction": "Write"},
    "heartbeat_timeout_s": 2,
}


async def _read_events(url: str, run_id: str, until: str, sink: list[tuple[str, Any]]) -> None:
    async with (
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=60) as http,
        http.stream("GET", f"/v1/runs/{run_id}/events") as response,
    ):
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                sink.append((kind, json.loads(line[5:])))
                if kind == until:
                    return


async def test_model_text_reaches_the_event_stream_as_it_is_written(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    # Longer than the guardrails hold back while streaming (aios.guardrails.releasable).
    answer = (
        "Durable runs survive crashes because every step is an activity [1]. A worker that dies "
        "mid-step hands the step to another, which retries it from its last heartbeat."
    )
    fake_openai.queue(ScriptedReply(content=answer, chunk_delay_s=0.05))
    async with (
        serving(app_for(stack)) as url,
        httpx.AsyncClient(base_url=url, headers=AUTH) as http,
    ):
        plan = {"steps": [SLOW_START, STREAMED]}
        run_id = (await http.post("/v1/runs", json={"goal": "g", "plan": plan})).json()["run_id"]
        events: list[tuple[str, Any]] = []
        await asyncio.wait_for(_read_events(url, run_id, "run.finished", events), 60)
    deltas = [data for kind, data in events if kind == "llm.delta"]
    assert len(deltas) >= 2, "the text came in pieces while the model wrote"
    assert "".join(d["text"] for d in deltas).strip() == answer
    kinds = [kind for kind, _ in events]
    assert kinds.index("llm.delta") < kinds.index("run.finished")
    assert fake_openai.requests[-1]["stream"] is True


async def test_cancelling_a_run_stops_a_streaming_call_within_seconds(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    fake_openai.queue(ScriptedReply(content="word " * 200, chunk_delay_s=0.1))  # 20 s of text
    async with (
        serving(app_for(stack)) as url,
        httpx.AsyncClient(base_url=url, headers=AUTH) as http,
    ):
        plan = {"steps": [SLOW_START, STREAMED]}
        run_id = (await http.post("/v1/runs", json={"goal": "g", "plan": plan})).json()["run_id"]
        events: list[tuple[str, Any]] = []
        await asyncio.wait_for(_read_events(url, run_id, "llm.delta", events), 30)
        cancelled_at = time.monotonic()
        await http.post(f"/v1/runs/{run_id}/cancel")
        run = await wait_status(http, run_id, "cancelled", timeout_s=15)
    assert time.monotonic() - cancelled_at < 8, "the stream stopped paying within seconds"
    assert run["plan"][1]["status"] == "cancelled"


# --- replanning ----------------------------------------------------------------------------

FAILING_PLAN = (
    '{"steps": [{"id": "first", "kind": "tool", "tool": "echo", "args": {"value": 1}}, '
    '{"id": "try", "kind": "tool", "tool": "flaky", "depends_on": ["first"], '
    '"args": {"succeed_on_attempt": 99, "message": "the service is gone"}}], "result_step": "try"}'
)
REVISION = (
    '{"steps": [{"id": "instead", "kind": "tool", "tool": "echo", "depends_on": ["first"], '
    '"args": {"value": {"$ref": "steps.first.output"}}}], "result_step": "instead"}'
)


async def test_a_failed_step_triggers_one_revised_plan_for_the_remaining_work(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.queue(ScriptedReply(content=FAILING_PLAN), ScriptedReply(content=REVISION))
    created = (await api.post("/v1/runs", json={"goal": "do it", "planner": "llm"})).json()
    run = await wait_status(api, created["run_id"], "completed", "failed", timeout_s=90)
    assert run["status"] == "completed", run.get("error")
    assert run["result"]["answer"] == "1", "the revision used the completed step's output"
    statuses = {s["id"]: s["status"] for s in run["plan"]}
    assert statuses == {"first": "completed", "try": "failed", "instead": "completed"}
    revise = fake_openai.requests[1]["messages"][1]["content"]
    assert "failed at step 'try'" in revise and "the service is gone" in revise

    events: list[Any] = []
    async with api.stream("GET", f"/v1/runs/{created['run_id']}/events") as response:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
    revised = [e for e in events if e.get("type") == "plan.revised"]
    assert revised and revised[0]["data"]["steps"] == ["instead"]


async def test_replanning_is_bounded(api: httpx.AsyncClient, fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(ScriptedReply(content=FAILING_PLAN))
    body = {"goal": "do it", "planner": "llm", "max_replans": 0}
    created = (await api.post("/v1/runs", json=body)).json()
    run = await wait_status(api, created["run_id"], "failed", timeout_s=90)
    assert "the service is gone" in run["error"] and len(fake_openai.requests) == 1


# --- the acceptance setups ---------------------------------------------------------


@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
async def test_with_only_a_providers_key_and_url_an_llm_planned_run_answers_with_usage(
    settings: Settings,
    pool: asyncpg.Pool,
    temporal_env: WorkflowEnvironment,
    embedder: Embedder,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
    vendor: str,
) -> None:
    """Nothing but the provider's key and base URL: the default models are that provider's, the
    LLM planner plans through structured output, and the run answers with usage counted."""
    fields = settings.model_dump()
    fields.update(model_fast="", model_strong="", local_model_url=None)
    if vendor == "openai":
        fields.update(openai_api_key=SecretStr("sk-test"), openai_base_url=fake_openai.base_url)
        fake: ScriptedServer = fake_openai
        planned = "gpt-4.1"
    else:
        fields.update(
            anthropic_api_key=SecretStr("sk-ant-test"), anthropic_base_url=fake_anthropic.base_url
        )
        fake, planned = fake_anthropic, "claude-sonnet-4-5"
    vendor_settings = Settings(**fields)
    assert vendor_settings.model_strong == f"{vendor}:{planned}"
    fake.queue(ScriptedReply(content=GOOD_PLAN))
    async with (
        running_stack(vendor_settings, pool, temporal_env, embedder) as stack,
        api_client(app_for(stack)) as api,
    ):
        created = (await api.post("/v1/runs", json={"goal": "do it", "planner": "llm"})).json()
        run = await wait_status(api, created["run_id"], "completed", "failed")
    assert run["status"] == "completed", run.get("error")
    assert run["result"]["answer"] == '"planned"'
    assert fake.requests[0]["model"] == planned
    assert run["usage"]["input_tokens"] == 100 and run["usage"]["output_tokens"] == 20
