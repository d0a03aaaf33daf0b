"""The REST API against a real worker, Temporal, PostgreSQL and Qdrant."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.helpers import APPROVAL_PLAN, ECHO_PLAN, SLOW_PLAN, assert_problem, wait_status


async def test_create_run_returns_202_with_links_and_completes(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/runs", json={"goal": "say hi", "plan": ECHO_PLAN})
    assert response.status_code == 202
    created = response.json()
    run_id = created["run_id"]
    assert run_id.startswith("run-") and created["status"] == "queued"
    assert response.headers["location"].endswith(f"/v1/runs/{run_id}")
    assert created["links"]["temporal_ui"].endswith(f"/namespaces/default/workflows/{run_id}")

    run = await wait_status(api, run_id, "completed")
    assert run["goal"] == "say hi"
    assert run["result"]["answer"] == '"hi"'
    [say] = run["plan"]
    assert say["status"] == "completed" and say["attempts"] == 1 and say["ended_at"]
    # The contract's three, and the calls the LLM response cache answered (docs/quality.md).
    assert set(run["usage"]) == {
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "cache_hits",
        "saved_usd",
    }


async def test_get_with_wait_s_answers_when_the_run_ends_or_the_wait_is_over(
    api: httpx.AsyncClient,
) -> None:
    """A long poll: the answer comes as soon as the run ends, or with the current state once
    `wait_s` has passed; a longer wait than 60 s is refused."""
    sleepy = {
        "steps": [{"id": "nap", "kind": "tool", "tool": "timed_sleep", "args": {"seconds": 1}}]
    }
    run_id = (await api.post("/v1/runs", json={"goal": "nap", "plan": sleepy})).json()["run_id"]
    started = asyncio.get_running_loop().time()
    ended = await api.get(f"/v1/runs/{run_id}", params={"wait_s": 30})
    waited = asyncio.get_running_loop().time() - started
    assert ended.status_code == 200 and ended.json()["status"] == "completed", ended.text
    assert 0.9 < waited < 20, f"answered after {waited:.1f}s, not when the run ended"

    parked = (await api.post("/v1/runs", json={"goal": "g", "plan": APPROVAL_PLAN})).json()
    await wait_status(api, parked["run_id"], "awaiting_approval")
    started = asyncio.get_running_loop().time()
    held = await api.get(f"/v1/runs/{parked['run_id']}", params={"wait_s": 1})
    assert held.json()["status"] == "awaiting_approval"
    assert asyncio.get_running_loop().time() - started >= 0.9
    assert_problem(await api.get(f"/v1/runs/{run_id}", params={"wait_s": 61}), 422, "wait_s")
    await api.post(f"/v1/runs/{parked['run_id']}/cancel")


async def test_the_rule_planner_runs_the_research_report(api: httpx.AsyncClient) -> None:
    created = (await api.post("/v1/runs", json={"goal": "What is AIOS?"})).json()
    run = await wait_status(api, created["run_id"], "completed", "failed")
    assert run["status"] == "completed", run.get("error")
    assert [s["id"] for s in run["plan"]] == ["retrieve", "extract", "trends", "report"]


async def test_a_steps_output_is_served_at_its_output_ref(api: httpx.AsyncClient) -> None:
    created = (await api.post("/v1/runs", json={"goal": "say hi", "plan": ECHO_PLAN})).json()
    run = await wait_status(api, created["run_id"], "completed")
    [say] = run["plan"]
    response = await api.get(f"/v1/runs/{created['run_id']}/{say['output_ref']}")
    assert response.status_code == 200, response.text
    assert response.json() == {"step_id": "say", "status": "completed", "output": "hi"}
    assert_problem(await api.get(f"/v1/runs/{created['run_id']}/steps/nope/output"), 404, "nope")


async def test_idempotency_key_returns_the_same_run(api: httpx.AsyncClient) -> None:
    body = {"goal": "once", "plan": ECHO_PLAN}
    first = await api.post("/v1/runs", json=body, headers={"Idempotency-Key": "abc-1"})
    second = await api.post("/v1/runs", json=body, headers={"Idempotency-Key": "abc-1"})
    other = await api.post("/v1/runs", json=body, headers={"Idempotency-Key": "abc-2"})
    assert first.json()["run_id"] == second.json()["run_id"] != other.json()["run_id"]


async def test_list_runs_filters_by_status(api: httpx.AsyncClient) -> None:
    created = (await api.post("/v1/runs", json={"goal": "listed", "plan": ECHO_PLAN})).json()
    await wait_status(api, created["run_id"], "completed")
    for _ in range(50):  # visibility is eventually consistent
        page = (await api.get("/v1/runs", params={"status": "completed"})).json()
        if any(r["run_id"] == created["run_id"] for r in page["runs"]):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the completed run is not listed")
    listed = next(r for r in page["runs"] if r["run_id"] == created["run_id"])
    assert listed["goal"] == "listed" and listed["status"] == "completed"
    running = (await api.get("/v1/runs", params={"status": "running"})).json()
    assert all(r["run_id"] != created["run_id"] for r in running["runs"])
    small = (await api.get("/v1/runs", params={"page_size": 1})).json()
    assert len(small["runs"]) == 1


async def test_approvals_through_the_api(api: httpx.AsyncClient) -> None:
    created = (await api.post("/v1/runs", json={"goal": "send", "plan": APPROVAL_PLAN})).json()
    run_id = created["run_id"]
    run = await wait_status(api, run_id, "awaiting_approval")
    [pending] = run["pending_approvals"]
    assert pending["args"] == {"value": "to all"} and pending["expires_at"]
    url = f"/v1/runs/{run_id}/approvals/{pending['approval_id']}"

    stale = await api.post(url, json={"decision": "approve", "args_hash": "0" * 64})
    assert_problem(stale, 409, "args_hash does not match")
    unknown = await api.post(
        f"/v1/runs/{run_id}/approvals/other", json={"decision": "approve", "args_hash": "x"}
    )
    assert_problem(unknown, 404, "no pending approval")
    bad = await api.post(url, json={"decision": "maybe", "args_hash": pending["args_hash"]})
    assert_problem(bad, 422, "decision")

    ok = await api.post(url, json={"decision": "approve", "args_hash": pending["args_hash"]})
    assert ok.status_code == 200 and ok.json()["decision"] == "approve"
    again = await api.post(url, json={"decision": "approve", "args_hash": pending["args_hash"]})
    assert again.status_code == 409
    await wait_status(api, run_id, "completed")


async def test_cancel_through_the_api(api: httpx.AsyncClient) -> None:
    created = (await api.post("/v1/runs", json={"goal": "slow", "plan": SLOW_PLAN})).json()
    run_id = created["run_id"]
    await wait_status(api, run_id, "running")
    response = await api.post(f"/v1/runs/{run_id}/cancel")
    assert response.status_code == 202
    run = await wait_status(api, run_id, "cancelled")
    assert run["plan"][0]["status"] == "cancelled"
    assert_problem(await api.post(f"/v1/runs/{run_id}/cancel"), 409, "already ended")


async def test_events_stream_progress_until_done(api: httpx.AsyncClient) -> None:
    created = (await api.post("/v1/runs", json={"goal": "stream", "plan": ECHO_PLAN})).json()
    events: list[tuple[str, dict[str, Any]]] = []
    async with api.stream("GET", f"/v1/runs/{created['run_id']}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                events.append((kind, json.loads(line[5:])))
                if kind == "run.finished":
                    break
    kinds = [k for k, _ in events]
    assert kinds[0] == "run.started" and kinds[-1] == "run.finished"
    assert {"plan.ready", "step.started", "step.finished"} <= set(kinds)
    seqs = [data["seq"] for _, data in events]
    assert seqs == sorted(seqs)
    # Resuming after the third event replays only what came later.
    async with api.stream(
        "GET", f"/v1/runs/{created['run_id']}/events", headers={"Last-Event-ID": str(seqs[2])}
    ) as response:
        first_id = None
        async for line in response.aiter_lines():
            if line.startswith("id:"):
                first_id = int(line[3:])
                break
    assert first_id == seqs[3]


async def test_health_and_readiness(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"temporal": "ok", "postgres": "ok", "qdrant": "ok"}


# --- bad input -----------------------------------------------------------------------------


async def test_missing_or_wrong_api_key_is_401(api: httpx.AsyncClient) -> None:
    assert_problem(await api.get("/v1/runs", headers={"Authorization": ""}), 401, "Bearer")
    assert_problem(
        await api.get("/v1/runs", headers={"Authorization": "Bearer wrong"}), 401, "not valid"
    )


async def test_malformed_json_is_400(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/runs", content=b'{"goal": ', headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400, "not valid JSON")


async def test_unknown_run_is_404(api: httpx.AsyncClient) -> None:
    assert_problem(await api.get("/v1/runs/run-doesnotexist"), 404, "no run")
    assert_problem(await api.get("/v1/runs/not-a-run"), 404, "no run")
    assert_problem(await api.post("/v1/runs/run-doesnotexist/cancel"), 404)
    assert_problem(await api.get("/v1/runs/run-doesnotexist/events"), 404)


async def test_huge_goal_is_422(api: httpx.AsyncClient) -> None:
    assert_problem(await api.post("/v1/runs", json={"goal": "x" * 100_000}), 422, "limit")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, ["goal"]),
        ({"goal": ""}, ["goal"]),
        ({"goal": "g", "surprise": 1}, ["surprise"]),
        ({"goal": "g", "max_steps": 0}, ["max_steps"]),
        ({"goal": "g", "planner": "genius"}, ["planner"]),
        (
            {
                "goal": "g",
                "plan": {
                    "steps": [
                        {"id": "a", "kind": "tool", "tool": "echo"},
                        {
                            "id": "b",
                            "kind": "tool",
                            "tool": "echo",
                            "args": {"x": {"$ref": "steps.a.output"}},
                        },
                    ]
                },
            },
            ["invalid plan", "does not depend on it"],
        ),
        (
            {"goal": "g", "plan": {"steps": [{"id": "a", "kind": "llm", "depends_on": ["zz"]}]}},
            ["unknown step 'zz'"],
        ),
    ],
)
async def test_invalid_run_requests_are_422(
    api: httpx.AsyncClient, body: dict[str, Any], words: list[str]
) -> None:
    assert_problem(await api.post("/v1/runs", json=body), 422, *words)


async def test_a_plan_with_an_unknown_tool_is_refused_before_it_runs(
    api: httpx.AsyncClient,
) -> None:
    plan = {"steps": [{"id": "a", "kind": "tool", "tool": "teleport"}]}
    assert_problem(
        await api.post("/v1/runs", json={"goal": "g", "plan": plan}), 422, "unknown tool 'teleport'"
    )


async def test_bad_list_filters_are_422(api: httpx.AsyncClient) -> None:
    assert_problem(await api.get("/v1/runs", params={"status": "sleeping"}), 422, "status")
    assert_problem(await api.get("/v1/runs", params={"page_token": "%%%"}), 422)


async def test_runs_that_need_no_model_to_plan_start_with_their_plan(
    api: httpx.AsyncClient, stack: Any
) -> None:
    """A client's plan and the rule planner's are made (and checked) by the API: the run starts
    with them and makes no planning call of its own, locally or on a task queue."""
    for body, planner in (
        ({"goal": "say hi", "plan": ECHO_PLAN}, "client"),
        ({"goal": "What is AIOS?"}, "hybrid: rule"),
    ):
        run_id = (await api.post("/v1/runs", json=body)).json()["run_id"]
        run = await wait_status(api, run_id, "completed", "failed")
        assert run["status"] == "completed", run.get("error")
        history = await stack.client.get_workflow_handle(run_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        run_input = json.loads(started.input.payloads[0].data)
        assert "tools_requiring_approval" in run_input["planning"]
        assert run_input["plan"] is None, "the plan travels once, in `planning`"
        scheduled = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        ]
        markers = [
            e.marker_recorded_event_attributes.details["data"].payloads[0].data
            for e in history.events
            if e.HasField("marker_recorded_event_attributes")
        ]
        assert "aios.plan_run" not in scheduled and not any(b"plan_run" in m for m in markers)
        trace = (await api.get(f"/v1/runs/{run_id}/trace")).json()
        assert planner in json.dumps(trace), trace
