"""Files a run's tools write are the run's, in the store: listed and downloaded through the API by
whoever may read the run, 404 to another user or tenant, whichever worker wrote them."""

from __future__ import annotations

import uuid

import httpx

from aios.client import ApiClient
from tests.helpers import as_key, assert_problem, make_key, wait_status

PLAN = {
    "steps": [
        {
            "id": "w",
            "kind": "tool",
            "tool": "file_write",
            "args": {"path": "notes/plan.md", "text": "# Plan\nship it"},
        }
    ]
}


async def test_a_runs_files_are_downloadable_by_its_readers(api: httpx.AsyncClient) -> None:
    run_id = (await api.post("/v1/runs", json={"goal": "write it", "plan": PLAN})).json()["run_id"]
    run = await wait_status(api, run_id, "completed", "failed")
    assert run["status"] == "completed", run.get("error")

    [listed] = (await api.get(f"/v1/runs/{run_id}/files")).json()["files"]
    assert listed["path"] == "notes/plan.md" and listed["bytes"] == 14
    got = await api.get(listed["download"])
    assert got.status_code == 200 and got.content == b"# Plan\nship it"
    assert got.headers["content-type"] == "application/octet-stream"
    assert 'filename="plan.md"' in got.headers["content-disposition"]
    assert_problem(await api.get(f"/v1/runs/{run_id}/files/nope.md"), 404, "nope.md")
    assert_problem(await api.get(f"/v1/runs/{run_id}/files/a/%2E%2E/%2E%2E/x"), 400, "..")

    # The typed client reads the same (`aios files` prints what these return).
    async with ApiClient("http://aios.test", "test-key", transport=api._transport) as client:
        assert [f.path for f in (await client.run_files(run_id)).files] == ["notes/plan.md"]
        assert await client.run_file(run_id, "notes/plan.md") == b"# Plan\nship it"

    bob = as_key((await make_key(api, run["tenant"], "bob"))["key"])
    stranger = as_key((await make_key(api, f"t-{uuid.uuid4().hex[:8]}", run["user_id"]))["key"])
    for key in (bob, stranger):
        assert (await api.get(f"/v1/runs/{run_id}/files", headers=key)).status_code == 404
        assert (await api.get(listed["download"], headers=key)).status_code == 404
