"""Standing approvals: an admin approves a bounded action in advance; a run whose approval it
matches goes on without pausing and says which standing approval let it through; anything outside
its constraints, past its expiry or its uses pauses as before."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Stack
from tests.helpers import as_key, make_key

LATER = (datetime.now(UTC) + timedelta(hours=1)).isoformat()


def send(value: str) -> dict[str, Any]:
    return {
        "steps": [{"id": "send", "kind": "tool", "tool": "guarded_echo", "args": {"value": value}}]
    }


async def start(api: httpx.AsyncClient, key: dict[str, str], value: str) -> str:
    response = await api.post("/v1/runs", json={"goal": "send", "plan": send(value)}, headers=key)
    assert response.status_code == 202, response.text
    run_id: str = response.json()["run_id"]
    return run_id


async def settled(api: httpx.AsyncClient, key: dict[str, str], run_id: str) -> dict[str, Any]:
    """The run once it has completed or waits for a person."""
    for _ in range(300):
        state: dict[str, Any] = (await api.get(f"/v1/runs/{run_id}", headers=key)).json()
        if state["status"] in ("completed", "awaiting_approval", "failed"):
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} neither finished nor waited: {state}")


async def test_a_standing_approval_lets_a_bounded_action_through(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    tenant = f"acme-{uuid.uuid4().hex[:8]}"
    admin = as_key((await make_key(api, tenant, "adam", roles=["admin"]))["key"])
    ada = as_key((await make_key(api, tenant, "ada", roles=["user"]))["key"])
    url = "/v1/standing-approvals"

    def body(**changes: Any) -> dict[str, Any]:
        return {
            "tool": "guarded_echo",
            "constraints": {"value": {"one_of": ["to reports"]}},
            "expires_at": LATER,
            "uses": 1,
            **changes,
        }

    # Bad input and the wrong role.
    bad: list[tuple[dict[str, Any], str]] = [
        ({"tool": "no_such_tool"}, "unknown tool 'no_such_tool'"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "in the past"),
        ({"constraints": {"cc": {"equals": "x"}}}, "takes no argument 'cc'"),
        ({"constraints": {"value": {"equals": "a", "one_of": ["b"]}}}, "exactly one of"),
    ]
    for changes, words in bad:
        refused = await api.post(url, json=body(**changes), headers=admin)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert words in str(refused.json()), refused.json()
    assert (await api.post(url, json=body(), headers=ada)).status_code == 403
    assert (await api.get(url, headers=ada)).status_code == 403

    created = await api.post(url, json=body(), headers=admin)
    assert created.status_code == 201, created.text
    standing = created.json()
    assert standing["created_by"] == "adam" and standing["uses_left"] == 1

    # Within the constraints: no pause; the trace names the standing approval and its creator.
    through = await start(api, ada, "to reports")
    done = (await api.get(f"/v1/runs/{through}?wait_s=30", headers=ada)).json()
    assert done["status"] == "completed", done
    trace = (await api.get(f"/v1/runs/{through}/trace", headers=ada)).json()
    said = [e for e in trace["entries"] if standing["id"] in str(e)]
    assert said and "created by adam" in str(said[0]), trace["entries"]

    # Its one use is spent; outside the constraints; past its expiry: each pauses as before.
    # The first two are settled before the expired one exists: a slow run could otherwise use it
    # in the moment before it is made to expire.
    again = await start(api, ada, "to reports")
    outside = await start(api, ada, "to all")
    for run_id in (again, outside):
        state = await settled(api, ada, run_id)
        assert state["status"] == "awaiting_approval", state
        await api.post(f"/v1/runs/{run_id}/cancel", headers=ada)
    expired = (await api.post(url, json=body(uses=5), headers=admin)).json()
    await stack.pool.execute(
        "UPDATE standing_approvals SET expires_at = now() - interval '1 second' WHERE id = $1",
        expired["id"],
    )
    late = await start(api, ada, "to reports")
    state = await settled(api, ada, late)
    assert state["status"] == "awaiting_approval", state
    await api.post(f"/v1/runs/{late}/cancel", headers=ada)

    listed = (await api.get(url, headers=admin)).json()["standing_approvals"]
    assert {s["id"]: s["uses_left"] for s in listed} == {standing["id"]: 0, expired["id"]: 5}
    assert (await api.delete(f"{url}/{standing['id']}", headers=admin)).status_code == 204
    assert (await api.delete(f"{url}/{standing['id']}", headers=admin)).status_code == 404
    # Another tenant's standing approvals are not this admin's.
    other = as_key((await make_key(api, f"{tenant}-b", "eve", roles=["admin"]))["key"])
    assert (await api.delete(f"{url}/{expired['id']}", headers=other)).status_code == 404
    assert (await api.get(url, headers=other)).json()["standing_approvals"] == []
