"""The gateway: keys (hashed, shown once, revocable), tenant isolation at the edge for every
resource, and rate limits that hold across several API processes."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import AUTH, Stack, api_client, app_for
from tests.helpers import as_key, make_key


async def test_keys_are_shown_once_stored_hashed_and_revocable(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    created = await make_key(api, "acme", "ada")
    key = created["key"]
    assert key.startswith("aios_live_") and created["id"].startswith("key_")
    stored = await stack.pool.fetchrow("SELECT * FROM api_keys WHERE id = $1", created["id"])
    assert key not in str(dict(stored)), "only a hash of the key is stored"
    listing = (await api.get("/v1/keys", params={"tenant": "acme"})).json()["keys"]
    assert [k["id"] for k in listing] == [created["id"]] and "key" not in listing[0]

    assert (await api.get("/v1/runs", headers=as_key(key))).status_code == 200
    # Not an admin: cannot manage keys.
    refused = await api.post(
        "/v1/keys", json={"tenant": "acme", "user_id": "x"}, headers=as_key(key)
    )
    assert refused.status_code == 403
    revoked = await api.delete(f"/v1/keys/{created['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    after = await api.get("/v1/runs", headers=as_key(key))
    assert after.status_code == 401 and "revoked" in after.json()["detail"]
    assert (await api.get("/v1/runs", headers=as_key(key + "x"))).status_code == 401
    assert (await api.delete(f"/v1/keys/{created['id']}")).status_code == 404


async def test_a_tenant_sees_only_its_own_resources(api: httpx.AsyncClient, stack: Stack) -> None:
    acme = as_key((await make_key(api, "acme", "ada"))["key"])
    globex = as_key((await make_key(api, "globex", "hank"))["key"])
    plan = {"steps": [{"id": "e", "kind": "tool", "tool": "echo", "args": {"value": 1}}]}
    run = (
        await api.post("/v1/runs", json={"goal": "acme's run", "plan": plan}, headers=acme)
    ).json()
    doc = await api.post(
        "/v1/documents",
        json={"documents": [{"text": "Acme's secret roadmap.", "source": "roadmap"}]},
        headers=acme,
    )
    job = doc.json()
    for _ in range(100):
        state = (await api.get(f"/v1/documents/jobs/{job['job_id']}", headers=acme)).json()
        if state["status"] == "completed":
            break
        await asyncio.sleep(0.1)
    await api.put(
        "/v1/users/ada/memory", json={"facts": [{"key": "k", "value": "v"}]}, headers=acme
    )

    # Another tenant's ids are 404, never 403, and never listed.
    for path in (
        f"/v1/runs/{run['run_id']}",
        f"/v1/runs/{run['run_id']}/events",
        f"/v1/documents/{job['documents'][0]}",
        f"/v1/documents/jobs/{job['job_id']}",
    ):
        response = await api.get(path, headers=globex)
        assert response.status_code == 404, (path, response.status_code)
    assert (await api.post(f"/v1/runs/{run['run_id']}/cancel", headers=globex)).status_code == 404
    assert (await api.get("/v1/runs", headers=globex)).json()["runs"] == []
    assert (await api.get("/v1/documents", headers=globex)).json()["documents"] == []
    hits = (await api.get("/v1/search", params={"q": "roadmap"}, headers=globex)).json()
    assert hits["results"] == []
    # Memory is the tenant's: globex's own ada has none of acme's ada's facts.
    globex_ada = as_key((await make_key(api, "globex", "ada"))["key"])
    assert (await api.get("/v1/users/ada/memory", headers=globex_ada)).json()["facts"] == []
    # ... while the owner sees them.
    assert [r["run_id"] for r in (await api.get("/v1/runs", headers=acme)).json()["runs"]] == [
        run["run_id"]
    ]
    assert (await api.get("/v1/search", params={"q": "roadmap"}, headers=acme)).json()["results"]


async def test_a_user_key_acts_only_as_its_user(api: httpx.AsyncClient) -> None:
    ada = as_key((await make_key(api, "acme", "ada"))["key"])
    plan = {"steps": [{"id": "e", "kind": "tool", "tool": "echo", "args": {"value": 1}}]}
    refused = await api.post(
        "/v1/runs", json={"goal": "g", "plan": plan, "user_id": "bob"}, headers=ada
    )
    assert refused.status_code == 403


async def test_rate_limits_hold_across_two_api_processes(stack: Stack) -> None:
    """Two apps on the same database stand for two API processes: the key's budget of 5
    requests a minute is shared."""
    async with api_client(app_for(stack)) as admin:
        key = as_key((await make_key(admin, "acme", "ada", rate_per_minute=5))["key"])
    async with api_client(app_for(stack)) as one, api_client(app_for(stack)) as two:
        statuses = [
            (await (one if i % 2 else two).get("/v1/tools", headers=key)).status_code
            for i in range(7)
        ]
        assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
        limited = await one.get("/v1/tools", headers=key)
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.headers["content-type"] == "application/problem+json"
        assert "5 requests a minute" in limited.json()["detail"]
        # Other keys are not affected.
        assert (await two.get("/v1/tools", headers=AUTH)).status_code == 200


async def test_concurrent_runs_are_limited_per_key(api: httpx.AsyncClient) -> None:
    key = as_key((await make_key(api, "acme", "ada", max_concurrent_runs=1))["key"])
    slow = {"steps": [{"id": "s", "kind": "tool", "tool": "quiet_sleep", "args": {"seconds": 3}}]}
    first = await api.post("/v1/runs", json={"goal": "slow", "plan": slow}, headers=key)
    assert first.status_code == 202
    for _ in range(50):  # until Temporal's visibility lists it as running
        second = await api.post("/v1/runs", json={"goal": "slow", "plan": slow}, headers=key)
        if second.status_code == 429:
            break
        await asyncio.sleep(0.1)
    assert second.status_code == 429 and "1 runs running at once" in second.json()["detail"]


async def test_the_docs_work_offline(api: httpx.AsyncClient) -> None:
    page = await api.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "jsdelivr" not in page.text.lower()
    script = page.text.split('src="', 1)[1].split('"', 1)[0]
    asset = await api.get(script)
    assert asset.status_code == 200 and len(asset.content) > 100_000  # Swagger UI itself
    assert (await api.get("/openapi.json")).json()["paths"]["/v1/documents"]


async def test_json_endpoints_refuse_other_media_types(api: httpx.AsyncClient) -> None:
    for path in ("/v1/runs", "/v1/chat", "/v1/schedules", "/v1/tools/word_count/invoke"):
        response = await api.post(
            path, content=b"goal=hello", headers={"Content-Type": "text/plain"}
        )
        assert response.status_code == 415, (path, response.status_code)
        assert "application/json" in response.json()["detail"]
    not_allowed = await api.delete("/v1/tools")
    assert not_allowed.status_code == 405 and "GET" in not_allowed.headers["allow"]
