"""Observability: spans from the API request through the workflow and its activities to the model
call (parent links intact), the /metrics series after a run, and the run's decision trace."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from aios import telemetry
from tests.conftest import Stack, api_client, app_for
from tests.helpers import APPROVAL_PLAN
from tests.support.fake_openai import FakeOpenAI, ScriptedReply
from workers.main import build_worker

PLAN = {
    "steps": [
        {"id": "ask", "kind": "llm", "args": {"instruction": "Say hi"}},
        {"id": "echo", "kind": "tool", "tool": "echo", "args": {"value": 1}, "depends_on": ["ask"]},
    ]
}
EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module")
def traced() -> InMemorySpanExporter:
    """A real tracer provider for this process, recording in memory (installed once: OTel's
    global provider cannot be replaced)."""
    if not telemetry.tracing_enabled():
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(provider)
    return EXPORTER


@pytest.fixture
async def traced_api(
    stack: Stack, traced: InMemorySpanExporter
) -> AsyncIterator[httpx.AsyncClient]:
    """The API and a worker on their own queue, both on a client with the tracing interceptor."""
    queue = f"traced-{uuid.uuid4()}"
    settings = stack.settings.model_copy(update={"task_queue": queue})
    config = stack.client.config()
    config["interceptors"] = telemetry.temporal_interceptors()
    client = Client(**config)
    worker = build_worker(client, stack.resources, task_queue=queue)
    async with worker, api_client(app_for(stack, temporal=client, settings=settings)) as api:
        yield api


async def _finish(api: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    for _ in range(300):
        run: dict[str, Any] = (await api.get(f"/v1/runs/{run_id}")).json()
        if run["status"] in ("completed", "failed"):
            return run
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = []
    current: ReadableSpan | None = span
    while current is not None and current.parent is not None:
        current = by_id.get(current.parent.span_id)
        if current is not None:
            names.append(current.name)
    return names


async def test_one_trace_runs_from_the_request_to_the_model_call(
    traced_api: httpx.AsyncClient, traced: InMemorySpanExporter, fake_openai: FakeOpenAI
) -> None:
    traced.clear()
    fake_openai.queue(ScriptedReply(content="Hi there."))
    created = await traced_api.post("/v1/runs", json={"goal": "say hi", "plan": PLAN})
    assert created.status_code == 202, created.text
    run = await _finish(traced_api, created.json()["run_id"])
    assert run["status"] == "completed", run
    spans = traced.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}
    [model_call] = [s for s in spans if s.name.startswith("chat ")]
    assert model_call.attributes is not None
    assert model_call.attributes["gen_ai.system"] == "local"
    assert str(model_call.attributes["gen_ai.request.model"]).startswith("fake-")
    output_tokens = model_call.attributes["gen_ai.usage.output_tokens"]
    assert isinstance(output_tokens, int) and output_tokens > 0
    assert "gen_ai.response.finish_reasons" in model_call.attributes
    chain = _ancestors(model_call, by_id)
    assert any(n.startswith("RunActivity:aios.llm_complete") for n in chain), chain
    assert "StartActivity:aios.llm_complete" in chain, chain
    assert "StartWorkflow:AgentRunWorkflow" in chain, chain
    assert chain[-1] == "POST /v1/runs", f"the request span is the root: {chain}"
    [tool_call] = [s for s in spans if s.name == "tool echo"]
    assert tool_call.attributes is not None and tool_call.attributes["aios.tool.outcome"] == "ok"
    assert _ancestors(tool_call, by_id)[-1] == "POST /v1/runs"
    assert len({s.context.trace_id for s in spans if s in (model_call, tool_call)}) == 1


async def test_metrics_show_the_run_its_steps_tools_tokens_and_approvals(
    api: httpx.AsyncClient, stack: Stack, fake_openai: FakeOpenAI
) -> None:
    fake_openai.queue(ScriptedReply(content="Hi there."))
    run_id = (await api.post("/v1/runs", json={"goal": "say hi", "plan": PLAN})).json()["run_id"]
    assert (await _finish(api, run_id))["status"] == "completed"
    waiting = (await api.post("/v1/runs", json={"goal": "wait", "plan": APPROVAL_PLAN})).json()
    for _ in range(100):
        if (await api.get(f"/v1/runs/{waiting['run_id']}")).json()["status"] == "awaiting_approval":
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.1)  # so the oldest approval has an age
    telemetry_module_cache_reset()
    response = await api.get("/metrics")
    assert response.status_code == 200
    text = response.text
    for series in (
        'aios_runs_started_total{tenant="default"}',
        'aios_runs_finished_total{status="completed"}',
        'aios_step_duration_seconds_bucket{kind="aios.llm_complete",le=',
        'aios_tool_calls_total{outcome="ok",tool="echo"}',
        'aios_llm_tokens_total{direction="output",model="local:fake-',
        "aios_llm_cost_usd_total{",
        "aios_approvals_waiting ",
        "aios_oldest_approval_age_seconds ",
        "aios_temporal_",
    ):
        assert series in text, f"missing {series}"
    waiting_line = next(line for line in text.splitlines() if line.startswith("aios_approvals_w"))
    assert float(waiting_line.split()[-1]) >= 1
    oldest = next(line for line in text.splitlines() if line.startswith("aios_oldest_approval"))
    assert float(oldest.split()[-1]) >= 1.0
    await api.post(f"/v1/runs/{waiting['run_id']}/cancel")


def telemetry_module_cache_reset() -> None:
    from api.routes import metrics

    metrics._approvals_read_at = 0.0


async def test_the_trace_of_a_finished_run_has_every_step_and_decision(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    run_id = (await api.post("/v1/runs", json={"goal": "send", "plan": APPROVAL_PLAN})).json()[
        "run_id"
    ]
    for _ in range(100):
        run = (await api.get(f"/v1/runs/{run_id}")).json()
        if run["status"] == "awaiting_approval":
            break
        await asyncio.sleep(0.1)
    live = (await api.get(f"/v1/runs/{run_id}/trace")).json()
    assert live["status"] == "awaiting_approval"
    assert any(e["kind"] == "approval" and "requested" in e["summary"] for e in live["entries"])
    [pending] = run["pending_approvals"]
    await api.post(
        f"/v1/runs/{run_id}/approvals/{pending['approval_id']}",
        json={"decision": "approve", "args_hash": pending["args_hash"], "comment": "fine"},
    )
    await _finish(api, run_id)
    for _ in range(50):  # the trace is recorded by the run's last activity
        if await stack.pool.fetchval("SELECT 1 FROM run_traces WHERE run_id = $1", run_id):
            break
        await asyncio.sleep(0.1)
    kept = (await api.get(f"/v1/runs/{run_id}/trace")).json()
    assert kept["status"] == "completed"
    assert [s["id"] for s in kept["steps"]] == ["send"]
    assert kept["steps"][0]["duration_ms"] is not None and kept["steps"][0]["output_ref"]
    kinds = [e["kind"] for e in kept["entries"]]
    assert kinds[0] == "plan" and kinds[-1] == "run"
    # The plan's entry says why it is this plan (here: the client supplied it).
    assert "(plan supplied by the client)" in kept["entries"][0]["summary"]
    answered = next(e for e in kept["entries"] if "approve by dev" in e["summary"])
    assert "(fine)" in answered["summary"]
    other_tenant = await api.delete("/v1/tenants/default/traces")
    assert other_tenant.status_code == 200 and other_tenant.json()["deleted"] >= 1
    assert not await stack.pool.fetchval("SELECT 1 FROM run_traces WHERE run_id = $1", run_id)
