"""Issue 23's "done when": ada requests a report, carol (of the reviewers group a tenant policy
names) approves its publication; the 07:00 schedule then publishes unattended within a standing
approval for `publish_report`, a near miss (another title) pauses, and an auditor (operator)
reads from each run's trace who approved what under which policy."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.helpers import as_key, make_key

TITLE = "Weekly pump summary"


async def _settled(api: httpx.AsyncClient, run: str, key: dict[str, str]) -> dict[str, Any]:
    """The run once it completed, failed or waits for a person."""
    for _ in range(600):
        state: dict[str, Any] = (await api.get(run, headers=key)).json()
        if state["status"] in ("completed", "failed") or state["pending_approvals"]:
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"{run} neither finished nor waited: {state}")


async def _scheduled_run(
    api: httpx.AsyncClient, goal: str, key: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    """A 07:00 schedule of the research report that publishes, fired now; its run, settled."""
    created = await api.post(
        "/v1/schedules",
        json={
            "goal": goal,
            "cron": "0 7 * * *",
            "timezone": "Europe/Berlin",
            "skill": "research_report",
            "inputs": {"publish": True},
        },
        headers=key,
    )
    assert created.status_code == 201, created.text
    schedule_id = created.json()["schedule_id"]
    fired = await api.post(f"/v1/schedules/{schedule_id}/trigger", headers=key)
    assert fired.status_code == 200, fired.text
    runs: list[dict[str, Any]] = []
    for _ in range(300):
        params = {"schedule_id": schedule_id}
        runs = (await api.get("/v1/runs", params=params, headers=key)).json()["runs"]
        if runs:
            break
        await asyncio.sleep(0.1)
    [run] = runs
    state = await _settled(api, f"/v1/runs/{run['run_id']}", key)
    await api.delete(f"/v1/schedules/{schedule_id}", headers=key)
    return schedule_id, state


def _said(trace: dict[str, Any]) -> list[str]:
    return [e["summary"] for e in trace["entries"] if e.get("kind") == "approval"]


async def test_ada_requests_carol_approves_and_the_schedule_publishes_unattended(
    api: httpx.AsyncClient,
) -> None:
    tenant = f"acme-{uuid.uuid4().hex[:8]}"
    roles = {"adam": ["admin"], "ada": ["user"], "carol": ["approver"], "otto": ["operator"]}
    keys = {u: as_key((await make_key(api, tenant, u, roles=r))["key"]) for u, r in roles.items()}
    admin, ada, carol, auditor = keys["adam"], keys["ada"], keys["carol"], keys["otto"]

    # The admin: reviewers sign off what is published (a tenant policy for the tool).
    group = {"name": "reviewers", "members": ["carol"]}
    assert (await api.post("/v1/groups", json=group, headers=admin)).status_code == 201
    made = await api.post(
        "/v1/policies",
        json={
            "subject": "tool",
            "name": "publish_report",
            "approvers": ["group:reviewers"],
            "on_timeout": "reject",
            "note": "reviewers sign off what is published",
        },
        headers=admin,
    )
    assert made.status_code == 201, made.text
    policy = made.json()["id"]

    # Ada asks for the report; carol approves its publication.
    started = await api.post(
        "/v1/skills/research_report/runs",
        json={"inputs": {"topic": TITLE, "publish": True}},
        headers=ada,
    )
    assert started.status_code == 202, started.text
    asked = f"/v1/runs/{started.json()['run_id']}"
    state = await _settled(api, asked, ada)
    [pending] = state["pending_approvals"]
    assert pending["step_id"] == "publish" and pending["approvers"] == ["group:reviewers"]
    answered = await api.post(
        f"{asked}/approvals/{pending['approval_id']}",
        json={"decision": "approve", "args_hash": pending["args_hash"]},
        headers=carol,
    )
    assert answered.status_code == 200, answered.text
    done = (await api.get(f"{asked}?wait_s=30", headers=ada)).json()
    assert done["status"] == "completed", done

    # The admin pre-approves publishing this one report title, for a year of mornings.
    standing = await api.post(
        "/v1/standing-approvals",
        json={
            "tool": "publish_report",
            "constraints": {"title": {"equals": TITLE}},
            "expires_at": (datetime.now(UTC) + timedelta(days=365)).isoformat(),
            "uses": 365,
            "note": "the 07:00 report",
        },
        headers=admin,
    )
    assert standing.status_code == 201, standing.text
    standing_id = standing.json()["id"]
    # An expired standing approval is refused at the door.
    expired = standing.json() | {"expires_at": "2020-01-01T00:00:00Z"}
    refused = await api.post(
        "/v1/standing-approvals",
        json={k: expired[k] for k in ("tool", "constraints", "expires_at", "uses")},
        headers=admin,
    )
    assert refused.status_code == 422 and "in the past" in refused.json()["detail"]

    # The 07:00 schedule publishes without pausing; another title (a near miss) pauses.
    _, unattended = await _scheduled_run(api, TITLE, ada)
    assert unattended["status"] == "completed", unattended
    assert next(s for s in unattended["plan"] if s["id"] == "publish")["status"] == "completed"
    _, near_miss = await _scheduled_run(api, f"{TITLE} for everyone", ada)
    assert near_miss["status"] == "awaiting_approval", near_miss
    [waiting] = near_miss["pending_approvals"]
    assert waiting["policy"] == f"tenant policy {policy} (tool publish_report)"
    await api.post(f"/v1/runs/{near_miss['run_id']}/cancel", headers=ada)

    # The auditor reads who approved what, under which policy, from the traces.
    first = _said((await api.get(f"{asked}/trace", headers=auditor)).json())
    assert any(
        f"under tenant policy {policy} (tool publish_report): 1 of group:reviewers" in s
        for s in first
    ), first
    assert any(s.endswith("approve by carol") for s in first), first
    scheduled = (await api.get(f"/v1/runs/{unattended['run_id']}/trace", headers=auditor)).json()
    assert any(
        f"given in advance by standing approval {standing_id} (created by adam)" in s
        for s in _said(scheduled)
    ), _said(scheduled)
    left = (await api.get("/v1/standing-approvals", headers=admin)).json()["standing_approvals"]
    assert [s["uses_left"] for s in left if s["id"] == standing_id] == [364]
