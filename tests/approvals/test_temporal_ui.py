"""Answers sent as `approve` signals from the Temporal UI: off by default (ignored and reported in
the run's events); with AIOS_TEMPORAL_UI_APPROVALS, recorded under the identity the Temporal
server attached to the signal, not the reviewer named in the payload. AIOS's own API (the client
that started the run) keeps its durable signal path."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from aios.config import Settings
from aios.models import ApprovalDecision, EventsQuery, RunEvent
from tests.conftest import Stack
from workflows.agent_run import AgentRunWorkflow

PLAN = {"steps": [{"id": "review", "kind": "approval", "approval": {"reason": "look"}}]}


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return settings.model_copy(update={"temporal_ui_approvals": getattr(request, "param", False)})


async def _signal_from_the_ui(api: httpx.AsyncClient, stack: Stack) -> tuple[str, Any]:
    run_id = (await api.post("/v1/runs", json={"goal": "g", "plan": PLAN})).json()["run_id"]
    for _ in range(300):
        state: dict[str, Any] = (await api.get(f"/v1/runs/{run_id}")).json()
        if state["pending_approvals"]:
            break
        await asyncio.sleep(0.1)
    [pending] = state["pending_approvals"]
    # The Temporal UI's server attaches the signed-in user as the identity.
    ui = await Client.connect(
        stack.client.service_client.config.target_host,
        namespace=stack.client.namespace,
        data_converter=stack.client.data_converter,
        identity="grace@acme.example",
    )
    handle = ui.get_workflow_handle(run_id)
    await handle.signal(
        AgentRunWorkflow.approve_signal,
        ApprovalDecision(
            approval_id=pending["approval_id"], args_hash=pending["args_hash"], reviewer="boss"
        ),
    )
    return run_id, stack.client.get_workflow_handle(run_id)


async def _approval_events(handle: Any) -> list[RunEvent]:
    for _ in range(300):
        events: list[RunEvent] = await handle.query(
            AgentRunWorkflow.events, EventsQuery(after_seq=0)
        )
        found = [e for e in events if e.type in ("approval.answered", "approval.signal_ignored")]
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("the signal was neither applied nor ignored")


async def test_temporal_ui_answers_are_off_by_default(api: httpx.AsyncClient, stack: Stack) -> None:
    run_id, handle = await _signal_from_the_ui(api, stack)
    [ignored] = await _approval_events(handle)
    assert ignored.type == "approval.signal_ignored"
    assert "from grace@acme.example was ignored" in ignored.data["reason"]
    assert "AIOS_TEMPORAL_UI_APPROVALS" in ignored.data["reason"]
    assert (await api.get(f"/v1/runs/{run_id}")).json()["status"] == "awaiting_approval"
    await api.post(f"/v1/runs/{run_id}/cancel")


@pytest.mark.parametrize("settings", [True], indirect=True)
async def test_temporal_ui_answers_carry_the_server_identity(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    run_id, handle = await _signal_from_the_ui(api, stack)
    [answered] = await _approval_events(handle)
    assert answered.type == "approval.answered"
    assert answered.data["reviewer"] == "temporal-ui:grace@acme.example"  # not "boss"
    done = (await api.get(f"/v1/runs/{run_id}?wait_s=20")).json()
    assert done["status"] == "completed", done
