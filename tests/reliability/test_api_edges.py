"""The API's edges, as a fault and load probe found them: no worker, bad input, reused keys,
anonymous callers. Each test names the defect it protects against (issue 6)."""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

import httpx
import pytest
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode

from aios.logs import JsonFormatter
from aios.models import AgentRunInput
from aios.plan import Plan
from tests.conftest import AUTH, Stack, api_client, app_for, run_id
from tests.helpers import APPROVAL_PLAN, ECHO_PLAN, assert_problem, wait_for
from tests.reliability.conftest import StoppableStack, timed, wait_status
from workflows.agent_run import AgentRunWorkflow


def _approval_url(run: dict[str, Any]) -> tuple[str, dict[str, str]]:
    [pending] = run["pending_approvals"]
    url = f"/v1/runs/{run['run_id']}/approvals/{pending['approval_id']}"
    return url, {"decision": "approve", "args_hash": pending["args_hash"]}


# --- 1 and 4: no worker up ------------------------------------------------------------------


async def test_without_a_worker_an_approval_is_accepted_then_applied_when_one_returns(
    stoppable: StoppableStack,
) -> None:
    """Defect 1: this answered 500 after 10 s, and the approval was applied anyway later."""
    await stoppable.start()
    async with api_client(app_for(stoppable)) as api:
        created = (await api.post("/v1/runs", json={"goal": "g", "plan": APPROVAL_PLAN})).json()
        run = await wait_status(api, created["run_id"], "awaiting_approval")
        await stoppable.stop()

        url, body = _approval_url(run)
        stale_hash = await api.post(url, json={**body, "args_hash": "0" * 64})
        assert_problem(stale_hash, 409, "args_hash does not match")

        response, seconds = await timed(api.post(url, json=body))
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "accepted" and response.json()["step_id"] == "send"
        assert seconds < 12
        # The same answer again is accepted again (a retry); a contradicting one is refused at
        # once, as a worker would refuse it: the API never acknowledges both (issue 23).
        again = await api.post(url, json=body)
        assert again.status_code == 202, again.text
        contradicting = await api.post(url, json={**body, "decision": "reject"})
        assert_problem(contradicting, 409, "already answered", "approve by dev")

        await stoppable.start()
        done = await wait_status(api, created["run_id"], "completed")
        assert done["result"]["answer"] == '"to all"'
        events = await stoppable.client.get_workflow_handle(created["run_id"]).fetch_history()
        assert events is not None


async def test_without_a_worker_the_last_known_state_is_served_and_marked_stale(
    stoppable: StoppableStack,
) -> None:
    """Defect 4: this answered 200 with an empty plan and no pending approvals. A run the API
    never saw was a 503; it is now read from its start request."""
    await stoppable.start()
    async with api_client(app_for(stoppable)) as api:
        seen = (await api.post("/v1/runs", json={"goal": "seen", "plan": APPROVAL_PLAN})).json()
        await wait_status(api, seen["run_id"], "awaiting_approval")
        # A second run the API has never been asked about.
        unseen = await stoppable.client.start_workflow(
            AgentRunWorkflow.run,
            AgentRunInput(goal="unseen", plan=Plan.model_validate(APPROVAL_PLAN)),
            id=run_id(),
            task_queue=stoppable.settings.task_queue,
        )
        await wait_for(unseen, lambda s: s.status == "awaiting_approval")
        await stoppable.stop()

        response = await api.get(f"/v1/runs/{seen['run_id']}")
        assert response.status_code == 200, response.text
        state = response.json()
        assert state["stale"] is True and "no worker answered" in state["stale_reason"]
        assert state["status"] == "awaiting_approval"
        assert [s["id"] for s in state["plan"]] == ["send"]
        assert state["pending_approvals"][0]["args"] == {"value": "to all"}

        # A run the API never saw is read from its start request, marked stale: its goal and
        # plan as started, its status from Temporal, and why nothing fresher is known.
        never_seen = await api.get(f"/v1/runs/{unseen.id}")
        assert never_seen.status_code == 200, never_seen.text
        state = never_seen.json()
        assert state["stale"] is True and "no worker answered" in state["stale_reason"]
        assert "as it was started" in state["stale_reason"]
        assert state["goal"] == "unseen" and state["status"] == "awaiting_approval"
        assert [s["id"] for s in state["plan"]] == ["send"]


# --- 7, 8, 9: bad input is refused at once ---------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"goal": "g", "skill": "teleport"}, ["unknown skill 'teleport'"]),
        ({"goal": "What is g?", "inputs": {"k": "abc"}}, ["inputs", "k", "valid integer"]),
        (
            {"goal": "What is g?", "inputs": {"colour": "red"}},
            ["colour", "valid keys", "max_sources"],
        ),
        (
            {"goal": "g", "planner": "rule", "inputs": {"k": "abc"}},
            ["inputs", "k", "valid integer"],
        ),
        (
            {"goal": "g", "plan": {"steps": [{"id": "s", "kind": "tool", "tool": "timed_sleep"}]}},
            ["step 's'", "seconds", "Field required"],
        ),
        (
            {
                "goal": "g",
                "plan": {
                    "steps": [
                        {"id": "s", "kind": "tool", "tool": "timed_sleep", "args": {"seconds": "x"}}
                    ]
                },
            },
            ["step 's'", "seconds"],
        ),
        (
            {"goal": "g", "plan": {"steps": [{"id": "a", "kind": "llm", "args": {"temp": 1}}]}},
            ["step 'a'", "instruction"],
        ),
        ({"goal": "   "}, ["goal is empty"]),
    ],
)
async def test_requests_that_could_only_fail_later_are_422_now(
    api: httpx.AsyncClient, body: dict[str, Any], words: list[str]
) -> None:
    """Defect 7: these were 202 and then failed in the worker."""
    assert_problem(await api.post("/v1/runs", json=body), 422, *words)


async def test_a_reference_may_supply_what_the_plan_does_not_write_down(
    api: httpx.AsyncClient,
) -> None:
    plan = {
        "steps": [
            {"id": "n", "kind": "tool", "tool": "echo", "args": {"value": 0.1}},
            {
                "id": "s",
                "kind": "tool",
                "tool": "timed_sleep",
                "depends_on": ["n"],
                "args": {"seconds": {"$ref": "steps.n.output"}},
            },
        ]
    }
    created = await api.post("/v1/runs", json={"goal": "g", "plan": plan})
    assert created.status_code == 202, created.text
    assert (await wait_status(api, created.json()["run_id"], "completed"))["status"] == "completed"


async def test_oversized_requests_are_413(api: httpx.AsyncClient) -> None:
    """Defect 8: a 10 MB `inputs` and a 10 MB instruction were accepted and run."""
    big = {"goal": "g", "inputs": {"blob": "x" * (10 * 1024 * 1024)}}
    problem = assert_problem(await api.post("/v1/runs", json=big), 413, "limit of 1048576 bytes")
    assert problem["limit_bytes"] == 1024 * 1024

    async def chunks() -> Any:  # no Content-Length: the limit holds while reading
        for _ in range(40):
            yield b"x" * 65536

    chunked = await api.post(
        "/v1/runs", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(chunked, 413, "limit")
    long_instruction = {
        "goal": "g",
        "plan": {"steps": [{"id": "a", "kind": "llm", "args": {"instruction": "y" * 30_000}}]},
    }
    assert_problem(await api.post("/v1/runs", json=long_instruction), 422, "instruction")


async def test_bad_list_requests_are_refused_at_once(api: httpx.AsyncClient) -> None:
    """Defect 9: these answered 503 after 6-7 s."""
    forged, seconds = await timed(api.get("/v1/runs", params={"page_token": "AAAAAAAA"}))
    assert_problem(forged, 422, "page_token")
    assert seconds < 2
    nul, seconds = await timed(api.get("/v1/runs", params={"user_id": "a\x00"}))
    assert_problem(nul, 422, "user_id")
    assert seconds < 2


async def test_a_page_token_continues_only_its_own_listing(api: httpx.AsyncClient) -> None:
    for _ in range(3):
        await api.post("/v1/runs", json={"goal": "page", "plan": ECHO_PLAN})
    first = (await api.get("/v1/runs", params={"page_size": 1})).json()
    token = first["next_page_token"]
    assert token
    second = await api.get("/v1/runs", params={"page_size": 1, "page_token": token})
    assert second.status_code == 200, second.text
    assert second.json()["runs"][0]["run_id"] != first["runs"][0]["run_id"]
    other = await api.get(
        "/v1/runs", params={"page_size": 1, "page_token": token, "status": "completed"}
    )
    assert_problem(other, 422, "page_token")


# --- 11: an unreachable Temporal ----------------------------------------------------------------


async def test_with_temporal_unreachable_reads_fail_fast_with_retry_after(stack: Stack) -> None:
    """Defect 11: each 503 took 6-10 s and carried no Retry-After."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    unreachable = await Client.connect(dead, lazy=True, data_converter=stack.client.data_converter)
    async with api_client(app_for(stack, temporal=unreachable)) as api:
        for path in ("/v1/runs", "/v1/runs/run-abc"):
            response, seconds = await timed(api.get(path))
            assert_problem(response, 503, "Temporal")
            assert int(response.headers["retry-after"]) >= 1
            assert seconds < 6, f"{path} took {seconds:.1f}s"
        # A start, too: one read's timeout and a failed health check (it took ~9.5 s).
        response, seconds = await timed(api.post("/v1/runs", json={"goal": "g", "plan": ECHO_PLAN}))
        assert_problem(response, 503, "Temporal did not take the run")
        assert seconds < 6, f"a start took {seconds:.1f}s"


class _StartAnswerLost(Interceptor):
    """The server takes the first start, and its answer is lost on the way back (a slow server
    past the client's deadline)."""

    def __init__(self) -> None:
        self.starts = 0

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        interceptor = self

        class Outbound(OutboundInterceptor):
            async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
                interceptor.starts += 1
                handle = await super().start_workflow(input)
                if interceptor.starts == 1:
                    raise RPCError("deadline exceeded", RPCStatusCode.DEADLINE_EXCEEDED, b"")
                return handle

        return Outbound(next)


async def test_a_start_whose_answer_was_lost_is_tried_again_and_answers_its_run(
    stack: Stack,
) -> None:
    """Temporal answers its health check, so a start that timed out is tried again; finding its
    id taken, the API answers with the run the first try started: one run, 202, no 503 for a
    run that exists."""
    lost = _StartAnswerLost()
    config = stack.client.config()
    config["interceptors"] = [lost]
    slow = Client(**config)
    async with api_client(app_for(stack, temporal=slow)) as api:
        created = await api.post("/v1/runs", json={"goal": "g", "plan": ECHO_PLAN})
        assert created.status_code == 202, created.text
        assert lost.starts == 2
        done = await wait_status(api, created.json()["run_id"], "completed")
    runs = [w async for w in stack.client.list_workflows(f"WorkflowId = '{done['run_id']}'")]
    assert len(runs) == 1


# --- 13, 14 ---------------------------------------------------------------------------------


async def test_an_idempotency_key_reused_for_another_request_is_409(api: httpx.AsyncClient) -> None:
    """Defect 13: this answered 202 with the first run."""
    key = {"Idempotency-Key": f"order-{run_id()}"}
    first = await api.post("/v1/runs", json={"goal": "once", "plan": ECHO_PLAN}, headers=key)
    assert first.status_code == 202
    await wait_status(api, first.json()["run_id"], "completed")
    # The same request again, even after the run finished: the same run, not a second one.
    again = await api.post("/v1/runs", json={"goal": "once", "plan": ECHO_PLAN}, headers=key)
    assert again.status_code == 202 and again.json()["run_id"] == first.json()["run_id"]
    assert again.json()["status"] == "completed"
    other = await api.post("/v1/runs", json={"goal": "twice", "plan": ECHO_PLAN}, headers=key)
    assert_problem(other, 409, "Idempotency-Key", "different request")


async def test_readiness_keeps_error_details_for_authenticated_callers(stack: Stack) -> None:
    """Defect 14: /readyz showed internal error text to anonymous callers."""
    async with api_client(app_for(stack, vectors=None)) as api:
        anonymous = await api.get("/readyz", headers={"Authorization": ""})
        assert anonymous.status_code == 503
        body = anonymous.json()
        assert body["checks"]["qdrant"] == "unavailable" and "details" not in body
        assert anonymous.headers["retry-after"]
        operator = await api.get("/readyz", headers=AUTH)
        assert "AIOS_QDRANT_URL" in operator.json()["details"]["qdrant"]


async def test_each_request_is_one_log_line_without_secrets(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Defect 17: requests were not logged at all. Each is one record, which in the JSON format
    carries the request id (echoed to the caller), the principal, the route template, the status
    and the latency; never the key, a query string or a body."""
    caplog.set_level(logging.INFO, logger="aios.api")
    listed = await api.get("/v1/runs", params={"page_size": 1, "q": "jane@example.com"})
    missing = await api.get("/v1/runs/run-nope", headers={"X-Request-ID": "trace-me-42"})
    assert missing.headers["x-request-id"] == "trace-me-42"
    records = [r for r in caplog.records if r.name == "aios.api"]
    lines = [r.getMessage() for r in records]
    assert any(line.startswith("GET /v1/runs -> 200 in ") for line in lines), lines
    assert any(line.startswith("GET /v1/runs/run-nope -> 404 in ") for line in lines), lines
    assert not [line for line in lines if "test-key" in line]

    formatter = JsonFormatter()
    as_json = [json.loads(formatter.format(r)) for r in records]
    lookup = next(line for line in as_json if line.get("request_id") == "trace-me-42")
    assert lookup["route"] == "/v1/runs/{run_id}" and lookup["status"] == 404
    assert lookup["principal"] == "default/dev/dev" and lookup["latency_ms"] >= 0
    listing = next(line for line in as_json if line.get("path") == "/v1/runs")
    assert listing["request_id"] == listed.headers["x-request-id"]
    serialized = json.dumps(as_json)
    assert "test-key" not in serialized and "jane@example.com" not in serialized
