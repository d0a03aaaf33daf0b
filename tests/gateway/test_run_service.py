"""The run service: every way of starting a run gets the same checks, and a run's state is
readable from what is known whatever its worker is doing."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus

from aios.errors import ValidationFailed
from aios.vocabulary import RunStatus
from api import page_tokens
from api.temporal_reads import status_of
from tests.conftest import Stack, api_client, app_for
from tests.helpers import as_key, make_key

ECHO_PLAN = {"steps": [{"id": "say", "kind": "tool", "tool": "echo", "args": {"value": "hi"}}]}
SLOW_PLAN = {"steps": [{"id": "s", "kind": "tool", "tool": "quiet_sleep", "args": {"seconds": 5}}]}


async def test_the_concurrent_run_limit_holds_for_every_way_a_run_starts(
    api: httpx.AsyncClient,
) -> None:
    """A key limited to one run at a time, with one running, could start a second through
    `POST /v1/tools/{name}/invoke` (200): every start now goes through one service."""
    # A user of its own: the Temporal server is shared by the session's tests.
    user = f"ada-{uuid.uuid4().hex[:8]}"
    key = as_key((await make_key(api, "acme", user, max_concurrent_runs=1))["key"])
    first = await api.post("/v1/runs", json={"goal": "slow", "plan": SLOW_PLAN}, headers=key)
    assert first.status_code == 202
    for _ in range(50):  # until Temporal's visibility counts it as running
        probe = await api.post("/v1/runs", json={"goal": "slow", "plan": SLOW_PLAN}, headers=key)
        if probe.status_code == 429:
            break
        await asyncio.sleep(0.1)
    assert probe.status_code == 429

    invoked = await api.post(
        "/v1/tools/word_count/invoke", json={"args": {"text": "two words"}}, headers=key
    )
    assert invoked.status_code == 429, invoked.text
    assert "1 runs running at once" in invoked.json()["detail"]
    skill = await api.post(
        "/v1/skills/research_report/runs", json={"inputs": {"topic": "pumps"}}, headers=key
    )
    assert skill.status_code == 429, skill.text


async def test_a_run_no_worker_has_begun_is_read_from_its_start_request(stack: Stack) -> None:
    """Under load, reads of runs not yet begun waited for the state query's timeout and came back
    `queued` with an empty plan. Now they are answered from the start request, at once: the plan
    the API checked, not marked stale (nothing has happened that the start request does not
    say)."""
    nobody_polls = stack.settings.model_copy(
        update={"task_queue": f"{stack.settings.task_queue}-nobody"}
    )
    async with api_client(app_for(stack, settings=nobody_polls)) as api:
        created = (await api.post("/v1/runs", json={"goal": "say hi", "plan": ECHO_PLAN})).json()
        response = await api.get(f"/v1/runs/{created['run_id']}")
        assert response.status_code == 200, response.text
        state = response.json()
        assert state["status"] == "queued" and state["stale"] is False
        assert state["goal"] == "say hi" and state["user_id"] == "dev"
        assert [(s["id"], s["status"]) for s in state["plan"]] == [("say", "pending")]
        listed = (await api.get("/v1/runs", params={"status": "queued"})).json()["runs"]
        assert created["run_id"] in [r["run_id"] for r in listed]
        await stack.client.get_workflow_handle(created["run_id"]).terminate("test over")


def test_a_run_reads_as_ended_only_once_its_workflow_has_closed() -> None:
    running = WorkflowExecutionStatus.RUNNING
    assert status_of(running, "completed") == RunStatus.RUNNING
    assert status_of(WorkflowExecutionStatus.COMPLETED, "completed") == RunStatus.COMPLETED
    assert status_of(WorkflowExecutionStatus.TERMINATED, "running") == RunStatus.FAILED
    assert status_of(running, "awaiting_approval") == RunStatus.AWAITING_APPROVAL


def test_a_page_token_continues_only_the_listing_it_was_made_for() -> None:
    token = page_tokens.seal(b"doc-41", "documents of acme")
    assert page_tokens.unseal(token, "documents of acme") == b"doc-41"
    for listing, forged in [
        ("documents of globex", token),  # another tenant's listing
        ("documents of acme", token[:-2] + "xx"),  # damaged
        ("documents of acme", "ZG9jLTQx"),  # the old unsigned scheme
    ]:
        with pytest.raises(ValidationFailed, match="not a token this API returned"):
            page_tokens.unseal(forged, listing)
