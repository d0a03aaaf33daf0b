"""k of n: an approval that needs two distinct approvers waits after the first, refuses the same
approver twice, and lets the run go on after the second; the trace records each answer."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from aios.models import RunState
from cli.runs import print_run
from tests.helpers import as_key, make_key

PLAN = {
    "steps": [
        {
            "id": "review",
            "kind": "approval",
            "approval": {"reason": "two people look", "approvals_required": 2},
        },
        {
            "id": "send",
            "kind": "tool",
            "tool": "echo",
            "depends_on": ["review"],
            "args": {"value": "sent"},
        },
    ]
}


async def test_two_distinct_approvers_are_needed(
    api: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = f"acme-{uuid.uuid4().hex[:8]}"
    keys = {
        user: as_key((await make_key(api, tenant, user, roles=roles))["key"])
        for user, roles in {"ada": ["user"], "carol": ["approver"], "dave": ["approver"]}.items()
    }
    started = await api.post("/v1/runs", json={"goal": "g", "plan": PLAN}, headers=keys["ada"])
    run = f"/v1/runs/{started.json()['run_id']}"
    for _ in range(300):
        state: dict[str, Any] = (await api.get(run, headers=keys["ada"])).json()
        if state["pending_approvals"]:
            break
        await asyncio.sleep(0.1)
    [pending] = state["pending_approvals"]
    assert pending["approvals_required"] == 2 and pending["approved_by"] == []
    url = f"{run}/approvals/{pending['approval_id']}"
    body = {"decision": "approve", "args_hash": pending["args_hash"]}

    first = await api.post(url, json=body, headers=keys["carol"])
    assert first.status_code == 200 and "still waiting" in first.json()["detail"], first.text
    state = (await api.get(run, headers=keys["ada"])).json()
    assert state["status"] == "awaiting_approval"
    assert state["pending_approvals"][0]["approved_by"] == ["carol"]
    print_run(RunState.model_validate(state))
    assert "needs 2 approvers; approved by: carol" in capsys.readouterr().out
    # Carol's inbox no longer lists it; dave's does.
    inbox = {
        user: [
            i["run_id"]
            for i in (await api.get("/v1/approvals", headers=keys[user])).json()["approvals"]
        ]
        for user in ("carol", "dave")
    }
    assert inbox == {"carol": [], "dave": [state["run_id"]]}
    again = await api.post(url, json=body, headers=keys["carol"])
    assert again.status_code == 409 and "carol already approved" in again.json()["detail"]

    second = await api.post(url, json=body, headers=keys["dave"])
    assert second.status_code == 200 and second.json()["detail"] is None, second.text
    done = (await api.get(f"{run}?wait_s=20", headers=keys["ada"])).json()
    assert done["status"] == "completed", done
    trace = (await api.get(f"{run}/trace", headers=keys["ada"])).json()
    said = [e["summary"] for e in trace["entries"] if e.get("kind") == "approval"]
    assert any("by carol (1 of 2, still waiting)" in s for s in said), said
    assert any(s.endswith("approve by dave") for s in said), said


async def test_an_approval_for_named_approvers_refuses_the_others(api: httpx.AsyncClient) -> None:
    tenant = f"acme-{uuid.uuid4().hex[:8]}"
    keys = {
        user: as_key((await make_key(api, tenant, user, roles=roles))["key"])
        for user, roles in {"ada": ["user"], "carol": ["approver"], "dave": ["approver"]}.items()
    }
    plan = {"steps": [{"id": "review", "kind": "approval", "approval": {"approvers": ["dave"]}}]}
    started = await api.post("/v1/runs", json={"goal": "g", "plan": plan}, headers=keys["ada"])
    run = f"/v1/runs/{started.json()['run_id']}"
    for _ in range(300):
        state: dict[str, Any] = (await api.get(run, headers=keys["ada"])).json()
        if state["pending_approvals"]:
            break
        await asyncio.sleep(0.1)
    [pending] = state["pending_approvals"]
    assert pending["approvers"] == ["dave"]
    assert (await api.get("/v1/approvals", headers=keys["carol"])).json()["approvals"] == []
    url = f"{run}/approvals/{pending['approval_id']}"
    body = {"decision": "approve", "args_hash": pending["args_hash"]}
    refused = await api.post(url, json=body, headers=keys["carol"])
    assert refused.status_code == 403 and "is for dave" in refused.json()["detail"], refused.text
    assert (await api.post(url, json=body, headers=keys["dave"])).status_code == 200
    done = (await api.get(f"{run}?wait_s=20", headers=keys["ada"])).json()
    assert done["status"] == "completed", done
