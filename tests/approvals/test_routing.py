"""An approver reads only the runs that wait on them: a run waiting on an approval for
`group:finance` is readable (state, events, trace, the run list, the inbox) by a finance approver
and 404 to an approver of another group, as another tenant's run is; an approval naming nobody is
every approver's, as before."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.helpers import as_key, make_key


async def _waiting(api: httpx.AsyncClient, key: dict[str, str], approvers: list[str]) -> str:
    step: dict[str, Any] = {"id": "sign", "kind": "approval", "approval": {"approvers": approvers}}
    started = await api.post(
        "/v1/runs", json={"goal": "sign it", "plan": {"steps": [step]}}, headers=key
    )
    assert started.status_code == 202, started.text
    run = f"/v1/runs/{started.json()['run_id']}"
    for _ in range(300):
        state = (await api.get(run, headers=key)).json()
        if state["pending_approvals"]:
            return run
        await asyncio.sleep(0.1)
    raise AssertionError(f"{run} never waited for approval")


async def test_an_approver_reads_only_the_runs_waiting_on_them(api: httpx.AsyncClient) -> None:
    tenant = f"acme-{uuid.uuid4().hex[:8]}"
    roles = {"adam": ["admin"], "ada": ["user"], "carol": ["approver"], "dave": ["approver"]}
    keys = {u: as_key((await make_key(api, tenant, u, roles=r))["key"]) for u, r in roles.items()}
    for group, member in (("finance", "carol"), ("legal", "dave")):
        made = await api.post(
            "/v1/groups", json={"name": group, "members": [member]}, headers=keys["adam"]
        )
        assert made.status_code == 201, made.text

    finance = await _waiting(api, keys["ada"], ["group:finance"])
    anyone = await _waiting(api, keys["ada"], [])
    run_id = finance.rsplit("/", 1)[1]

    # carol (finance) reads it; dave (legal) does not see it at all (the event stream is
    # refused before it opens; httpx's ASGI transport would wait for a stream's end).
    for path in (finance, f"{finance}/trace"):
        seen = {u: (await api.get(path, headers=keys[u])).status_code for u in ("carol", "dave")}
        assert seen == {"carol": 200, "dave": 404}, (path, seen)
    assert (await api.get(f"{finance}/events", headers=keys["dave"])).status_code == 404
    refused = await api.get(finance, headers=keys["dave"])
    assert refused.headers["content-type"].startswith("application/problem+json")
    listed = {
        u: {r["run_id"] for r in (await api.get("/v1/runs", headers=keys[u])).json()["runs"]}
        for u in ("carol", "dave")
    }
    assert run_id in listed["carol"] and run_id not in listed["dave"], listed
    # An approval that names nobody is every approver's, as before.
    assert anyone.rsplit("/", 1)[1] in listed["dave"]
    assert (await api.get(anyone, headers=keys["dave"])).status_code == 200
    inbox = {
        u: {i["run_id"] for i in (await api.get("/v1/approvals", headers=keys[u])).json()[k]}
        for u, k in (("carol", "approvals"), ("dave", "approvals"))
    }
    assert run_id in inbox["carol"] and run_id not in inbox["dave"], inbox

    # Answered, the run waits on nobody: carol no longer reads it; ada still does.
    [pending] = (await api.get(finance, headers=keys["ada"])).json()["pending_approvals"]
    answer = {"decision": "approve", "args_hash": pending["args_hash"]}
    answered = await api.post(
        f"{finance}/approvals/{pending['approval_id']}", json=answer, headers=keys["carol"]
    )
    assert answered.status_code == 200, answered.text
    done = (await api.get(f"{finance}?wait_s=20", headers=keys["ada"])).json()
    assert done["status"] == "completed", done
    assert (await api.get(finance, headers=keys["carol"])).status_code == 404
    await api.post(f"{anyone}/cancel", headers=keys["ada"])
