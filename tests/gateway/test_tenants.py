"""Erasing a tenant (`DELETE /v1/tenants/{tenant}`): everything AIOS holds for it goes, in
Temporal, the vector store and PostgreSQL; another tenant keeps everything; a repeat finds
nothing left."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from temporalio.service import RPCError, RPCStatusCode

from aios.stores.ledger import LedgerStore
from aios.stores.tenants import TENANT_TABLES
from tests.conftest import Stack
from tests.helpers import as_key, make_key
from tests.support.fake_openai import FakeOpenAI

PARKED = [
    {
        "id": "review",
        "kind": "approval",
        "approval": {"reason": "legal review", "timeout_s": 86400},
        "args": {"document": "contract.pdf"},
    }
]
DONE = [{"id": "e", "kind": "tool", "tool": "echo", "args": {"value": 1}}]


async def test_every_table_with_a_tenant_column_is_erased_with_the_tenant(stack: Stack) -> None:
    """A new table holding tenant data must join TENANT_TABLES (aios/stores/tenants.py)."""
    tables = await stack.pool.fetch(
        "SELECT table_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND column_name = 'tenant'"
    )
    assert sorted(r["table_name"] for r in tables) == sorted(TENANT_TABLES)


async def _until(api: httpx.AsyncClient, key: dict[str, str], path: str, status: str) -> None:
    """Poll `path` until its `status` is reached (20 s at most)."""
    for _ in range(200):
        body = (await api.get(path, headers=key)).json()
        if body["status"] == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} never reached {status}: {body}")


async def _populate(api: httpx.AsyncClient, key: dict[str, str], word: str) -> dict[str, Any]:
    """A document, a user's facts and memories, a finished run, a run parked at an approval, a
    schedule and a chat session, all under `key`'s tenant."""
    job = (
        await api.post(
            "/v1/documents",
            json={"documents": [{"text": f"The {word} roadmap names three projects."}]},
            headers=key,
        )
    ).json()
    await _until(api, key, f"/v1/documents/jobs/{job['job_id']}", "completed")
    memory = {
        "facts": [{"key": "team", "value": word}],
        "memories": [{"text": f"prefers short {word} reports"}],
    }
    stored = await api.put("/v1/users/ada/memory", json=memory, headers=key)
    assert stored.status_code == 200, stored.text
    finished = (
        await api.post("/v1/runs", json={"goal": "echo", "plan": {"steps": DONE}}, headers=key)
    ).json()
    parked = (
        await api.post("/v1/runs", json={"goal": "sign", "plan": {"steps": PARKED}}, headers=key)
    ).json()
    await _until(api, key, f"/v1/runs/{parked['run_id']}", "awaiting_approval")
    schedule = await api.post(
        "/v1/schedules", json={"goal": "daily digest", "interval_s": 86400}, headers=key
    )
    assert schedule.status_code == 201, schedule.text
    question = {"message": f"What is on the {word} roadmap?"}
    chat = await api.post("/v1/chat", json=question, headers=key)
    assert chat.status_code == 200, chat.text
    return {"finished": finished["run_id"], "parked": parked["run_id"]}


async def test_erasing_a_tenant_leaves_nothing_of_it_and_all_of_the_others(
    api: httpx.AsyncClient, stack: Stack, fake_openai: FakeOpenAI
) -> None:
    gone, kept = f"erase-{uuid.uuid4().hex[:8]}", f"keep-{uuid.uuid4().hex[:8]}"
    gone_key = as_key((await make_key(api, gone, "ada"))["key"])
    kept_key = as_key((await make_key(api, kept, "ada"))["key"])
    for tenant in (gone, kept):  # capped: their spend keeps running totals too
        await LedgerStore(stack.pool).set_cap(
            tenant, "tenant", tenant, "month", usd=None, tokens=10**9, created_by="root"
        )
    runs = await _populate(api, gone_key, "apollo")
    await _populate(api, kept_key, "gemini")

    refused = await api.delete(f"/v1/tenants/{gone}", headers=kept_key)
    assert refused.status_code == 403, "an administrator's call only"
    erased = await api.delete(f"/v1/tenants/{gone}")
    assert erased.status_code == 200, erased.text
    report = erased.json()
    assert report["schedules"] == 1
    # The parked run and the chat session were open; with the finished run and the ingestion job,
    # four executions at least (the schedule started none yet).
    assert report["workflows_stopped"] >= 2 and report["workflows_deleted"] >= 4
    assert report["chunks"] >= 1 and report["memories"] >= 1
    rows = report["rows"]
    assert rows["documents"] == 1 and rows["user_facts"] == 1 and rows["api_keys"] == 1
    assert rows["conversation_messages"] == 2, "the question and the reply"

    # Nothing of it is left anywhere...
    for table in TENANT_TABLES:
        left = await stack.pool.fetchval(f"SELECT count(*) FROM {table} WHERE tenant = $1", gone)
        assert left == 0, table
    counters = "SELECT count(*) FROM ledger_counters WHERE scope LIKE $1"
    assert await stack.pool.fetchval(counters, f"%:{gone}/%") == 0, "its spend totals too"
    assert await stack.pool.fetchval(counters, f"%:{kept}/%"), "the other's spend stays"
    assert (await api.get("/v1/runs", headers=gone_key)).status_code == 401, "its keys are gone"
    for run_id in runs.values():
        with pytest.raises(RPCError) as missing:
            # Temporal deletes in the background: an open run at once, a closed one within
            # half a minute here.
            for _ in range(120):
                await stack.client.get_workflow_handle(run_id).describe()
                await asyncio.sleep(0.5)
        assert missing.value.status == RPCStatusCode.NOT_FOUND
    again = (await api.delete(f"/v1/tenants/{gone}")).json()
    assert again["schedules"] == again["chunks"] == again["memories"] == 0
    assert not any(again["rows"].values()), "a repeat finds nothing left"

    # ... and the other tenant keeps all of its own.
    assert (await api.get("/v1/documents", headers=kept_key)).json()["documents"]
    hits = await api.get("/v1/search", params={"q": "roadmap"}, headers=kept_key)
    assert hits.json()["results"]
    memory = (await api.get("/v1/users/ada/memory", headers=kept_key)).json()
    assert memory["facts"] and memory["memories"]
    assert len((await api.get("/v1/schedules", headers=kept_key)).json()["schedules"]) == 1
    assert len((await api.get("/v1/runs", headers=kept_key)).json()["runs"]) >= 2


async def test_erasing_the_callers_own_tenant_keeps_the_callers_key(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    tenant = f"self-{uuid.uuid4().hex[:8]}"
    admin = as_key((await make_key(api, tenant, "root", roles=["admin"]))["key"])
    await make_key(api, tenant, "ada")
    erased = (await api.delete(f"/v1/tenants/{tenant}", headers=admin)).json()
    assert erased["rows"]["api_keys"] == 1, "the other key"
    assert (await api.get("/v1/runs", headers=admin)).status_code == 200


async def test_a_tenant_name_that_is_not_one_is_refused(api: httpx.AsyncClient) -> None:
    for bad in ("Acme", "a'b", "-x", "x" * 101):
        response = await api.delete(f"/v1/tenants/{bad}")
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == "application/problem+json"
