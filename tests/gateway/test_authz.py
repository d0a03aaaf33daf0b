"""Roles and ownership inside a tenant, walked as the table in `api/authz.py` says: a user sees
only their own runs, memory and chat sessions; an approver reads runs that wait for a decision
and answers them, never their own (four eyes); an operator sees and cancels everyone's runs."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.helpers import keys_by_role
from tests.support.fake_openai import FakeOpenAI, ScriptedReply

APPROVAL_PLAN = {
    "steps": [{"id": "send", "kind": "tool", "tool": "guarded_echo", "args": {"value": "to all"}}]
}


async def _awaiting(api: httpx.AsyncClient, key: dict[str, str]) -> dict[str, Any]:
    run_id = (
        await api.post("/v1/runs", json={"goal": "send it", "plan": APPROVAL_PLAN}, headers=key)
    ).json()["run_id"]
    for _ in range(200):
        state: dict[str, Any] = (await api.get(f"/v1/runs/{run_id}", headers=key)).json()
        if state["status"] == "awaiting_approval":
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} never waited for approval")


def _answer(state: dict[str, Any]) -> tuple[str, dict[str, str]]:
    [pending] = state["pending_approvals"]
    path = f"/v1/runs/{state['run_id']}/approvals/{pending['approval_id']}"
    return path, {"decision": "approve", "args_hash": pending["args_hash"]}


async def test_the_route_by_role_table_for_runs(api: httpx.AsyncClient) -> None:
    keys = await keys_by_role(api)
    state = await _awaiting(api, keys["ada"])
    run = f"/v1/runs/{state['run_id']}"

    # Reading: the owner, the approver (it waits for a decision), the operator, the admin.
    reads = {user: (await api.get(run, headers=key)).status_code for user, key in keys.items()}
    assert reads == {"ada": 200, "bob": 404, "carol": 200, "olga": 200, "adam": 200}
    for path in (f"{run}/trace", f"{run}/events"):
        assert (await api.get(path, headers=keys["bob"])).status_code == 404, path
    listed = {
        user: [r["run_id"] for r in (await api.get("/v1/runs", headers=key)).json()["runs"]]
        for user, key in keys.items()
    }
    assert {user: state["run_id"] in ids for user, ids in listed.items()} == {
        "ada": True,
        "bob": False,
        "carol": True,
        "olga": True,
        "adam": True,
    }
    # Changing its course: the owner or an operator; an approver may only answer.
    assert (await api.post(f"{run}/cancel", headers=keys["bob"])).status_code == 404
    assert (await api.post(f"{run}/cancel", headers=keys["carol"])).status_code == 403

    # Answering: the approver role, and never the requester. Refused answers change nothing.
    path, body = _answer(state)
    refused = {
        user: (await api.post(path, json=body, headers=keys[user])).status_code
        for user in ("ada", "bob", "olga")
    }
    assert refused == {"ada": 403, "bob": 404, "olga": 403}
    own = await api.post(path, json=body, headers=keys["ada"])
    assert "approver role" in own.json()["detail"]
    still = (await api.get(run, headers=keys["ada"])).json()
    assert still["status"] == "awaiting_approval" and len(still["pending_approvals"]) == 1
    answered = await api.post(path, json=body, headers=keys["carol"])
    assert answered.status_code == 200, answered.text


async def test_four_eyes_hold_for_an_approver_who_asked(api: httpx.AsyncClient) -> None:
    """An approver's own request needs someone else: the approver role is not enough."""
    keys = await keys_by_role(api)
    state = await _awaiting(api, keys["carol"])
    path, body = _answer(state)
    own = await api.post(path, json=body, headers=keys["carol"])
    assert own.status_code == 403 and "four eyes" in own.json()["detail"]
    assert own.headers["content-type"].startswith("application/problem+json")
    still = (await api.get(f"/v1/runs/{state['run_id']}", headers=keys["carol"])).json()
    assert still["status"] == "awaiting_approval"
    # An admin is an approver too.
    assert (await api.post(path, json=body, headers=keys["adam"])).status_code == 200


async def test_memory_is_its_users_own(api: httpx.AsyncClient) -> None:
    keys = await keys_by_role(api)
    fact = {"facts": [{"key": "team", "value": "pumps"}]}
    assert (
        await api.put("/v1/users/ada/memory", json=fact, headers=keys["ada"])
    ).status_code == 200
    for method in ("GET", "PUT", "DELETE"):
        response = await api.request(
            method,
            "/v1/users/ada/memory",
            headers=keys["bob"],
            json=fact if method == "PUT" else None,
        )
        assert response.status_code == 404, (method, response.status_code)
    for user in ("ada", "olga"):
        facts = (await api.get("/v1/users/ada/memory", headers=keys[user])).json()["facts"]
        assert [f["key"] for f in facts] == ["team"], user


async def test_a_chat_session_cannot_be_taken_over(
    api: httpx.AsyncClient, fake_openai: FakeOpenAI
) -> None:
    keys = await keys_by_role(api)
    fake_openai.queue(ScriptedReply(content="Hello ada."))
    first = await api.post("/v1/chat", json={"message": "hi"}, headers=keys["ada"])
    assert first.status_code == 200, first.text
    session = first.json()["session_id"]
    taken = await api.post(
        "/v1/chat",
        json={"message": "what do you know?", "session_id": session},
        headers=keys["bob"],
    )
    assert taken.status_code == 404, taken.text
    as_ada = await api.post(
        "/v1/chat", json={"message": "hi", "user_id": "ada"}, headers=keys["bob"]
    )
    assert as_ada.status_code == 403


async def test_an_unknown_role_is_refused_naming_the_known_ones(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/keys", json={"tenant": "acme", "user_id": "eve", "roles": ["superuser"]}
    )
    assert response.status_code == 422
    assert "'superuser'" in response.json()["detail"] and "approver" in response.json()["detail"]


async def test_the_inbox_lists_what_waits_for_my_decision(api: httpx.AsyncClient) -> None:
    keys = await keys_by_role(api)
    adas = await _awaiting(api, keys["ada"])
    carols = await _awaiting(api, keys["carol"])

    async def inbox(user: str) -> list[tuple[str, str]]:
        response = await api.get("/v1/approvals", headers=keys[user])
        assert response.status_code == 200, response.text
        return [(i["run_id"], i["requester"]) for i in response.json()["approvals"]]

    # Carol answers ada's request, not her own; the admin both; a plain user nothing.
    assert await inbox("carol") == [(adas["run_id"], "ada")]
    assert await inbox("adam") == [(adas["run_id"], "ada"), (carols["run_id"], "carol")]
    assert await inbox("ada") == []
    [item] = (await api.get("/v1/approvals", headers=keys["carol"])).json()["approvals"]
    [pending] = adas["pending_approvals"]
    assert item["args"] == {"value": "to all"} and item["args_hash"] == pending["args_hash"]
    assert item["waiting_s"] >= 0 and item["goal"] == "send it"
    # Answered, it leaves the inbox.
    path, body = _answer(adas)
    assert (await api.post(path, json=body, headers=keys["carol"])).status_code == 200
    for _ in range(100):
        if not await inbox("carol"):
            break
        await asyncio.sleep(0.1)
    assert await inbox("carol") == []


async def test_schedules_are_their_users_own(api: httpx.AsyncClient) -> None:
    """A user sees and manages only their own schedules (another's is 404, as another tenant's
    is); an operator and an admin see and manage every schedule of the tenant."""
    keys = await keys_by_role(api)
    created = await api.post(
        "/v1/schedules",
        json={"goal": "Summarise yesterday", "cron": "0 7 * * 1-5", "paused": True},
        headers=keys["ada"],
    )
    assert created.status_code == 201, created.text
    path = f"/v1/schedules/{created.json()['schedule_id']}"

    async def listed(user: str) -> bool:
        response = await api.get("/v1/schedules", headers=keys[user])
        assert response.status_code == 200, response.text
        return path.rsplit("/", 1)[1] in [s["schedule_id"] for s in response.json()["schedules"]]

    assert {user: await listed(user) for user in keys} == {
        "ada": True,
        "bob": False,
        "carol": False,
        "olga": True,
        "adam": True,
    }
    for method, suffix in (
        ("GET", ""),
        ("POST", "/pause"),
        ("POST", "/resume"),
        ("POST", "/trigger"),
        ("DELETE", ""),
    ):
        for user in ("bob", "carol"):
            response = await api.request(method, path + suffix, headers=keys[user])
            assert response.status_code == 404, (user, method, suffix, response.status_code)
    assert (await api.get(path, headers=keys["olga"])).json()["paused"] is True
    assert (await api.post(f"{path}/resume", headers=keys["ada"])).status_code == 200
    assert (await api.post(f"{path}/pause", headers=keys["olga"])).json()["paused"] is True
    assert (await api.delete(path, headers=keys["adam"])).status_code == 204
    assert (await api.get(path, headers=keys["ada"])).status_code == 404
