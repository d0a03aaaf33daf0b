"""Data sources and tools with owners (api/routes/sources.py): a tenant's admins register SQL
sources, MCP servers and the egress allow-list; other roles cannot; another tenant cannot list,
read, query or ingest them (404); secrets never come back out; the content policy holds for chat
messages."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from aios.config import Settings
from tests.conftest import Stack, api_client, app_for, running_stack
from tests.helpers import as_key, make_key


@contextlib.asynccontextmanager
async def over_tcp(pg_url: str) -> AsyncIterator[str]:
    """The test's database (a Unix socket) reached over TCP, as a tenant's database on another
    host would be: a DSN a tenant may register."""
    socket_dir = parse_qs(urlsplit(pg_url).query)["host"][0]

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(f"{socket_dir}/.s.PGSQL.5432")

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(forward, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        server.close()


async def _tenant(api: httpx.AsyncClient, **roles: list[str]) -> dict[str, dict[str, str]]:
    tenant = f"src-{uuid.uuid4().hex[:8]}"
    return {
        user: as_key((await make_key(api, tenant, user, roles=granted))["key"])
        for user, granted in roles.items()
    }


async def _invoke(api: httpx.AsyncClient, key: dict[str, str], **args: Any) -> dict[str, Any]:
    answer = await api.post("/v1/tools/sql_query/invoke", json={"args": args}, headers=key)
    body: dict[str, Any] = answer.json()
    for _ in range(300):
        if body.get("status") not in ("queued", "running"):
            return body
        await asyncio.sleep(0.1)
        body = (await api.get(f"/v1/runs/{body['run_id']}", headers=key)).json()
    raise AssertionError(body)


@pytest.fixture
async def reachable(
    settings: Settings, pool: asyncpg.Pool, temporal_env: WorkflowEnvironment, embedder: Any
) -> AsyncIterator[Stack]:
    """A stack (API and worker) that lets tenants reach this machine, where the test's database
    is (by default a tenant never points the workers inside the network)."""
    allowed = settings.model_copy(update={"fetch_allow": ["127.0.0.1"]})
    async with running_stack(allowed, pool, temporal_env, embedder) as running:
        yield running


async def test_sql_sources_belong_to_their_tenant(reachable: Stack, pg_url: str) -> None:
    closed = reachable.settings.model_copy(update={"fetch_allow": []})
    async with (
        api_client(app_for(reachable)) as api,
        api_client(app_for(reachable, settings=closed)) as closed_api,
        over_tcp(pg_url) as dsn,
    ):
        await _sources_belong_to_their_tenant(api, closed_api, reachable, dsn)


async def _sources_belong_to_their_tenant(
    api: httpx.AsyncClient, default_api: httpx.AsyncClient, stack: Stack, pg_url: str
) -> None:
    await stack.pool.execute(
        "DROP TABLE IF EXISTS src_orders; CREATE TABLE src_orders (id int, note text);"
        "INSERT INTO src_orders VALUES (1, 'forty chairs'), (2, 'one desk')"
    )
    a = await _tenant(api, adam=["admin"], ada=["user"], olga=["operator"])
    b = await _tenant(api, bea=["admin"])

    # Only an admin manages sources; a DSN goes in and never comes back out.
    body = {"dsn": pg_url, "description": "orders"}
    refused = await api.put("/v1/sources/shop", json=body, headers=a["ada"])
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    created = await api.put("/v1/sources/shop", json=body, headers=a["adam"])
    assert created.status_code == 200, created.text
    assert created.json()["name"] == "shop" and pg_url not in created.text
    hr = {"dsn": pg_url, "roles": ["operator"]}
    assert (await api.put("/v1/sources/hr", json=hr, headers=a["adam"])).status_code == 200
    bad = await api.put("/v1/sources/x", json={"dsn": "mysql://h/db"}, headers=a["adam"])
    assert bad.status_code == 422 and "postgresql://" in bad.text
    inside = await default_api.put("/v1/sources/x", json=body, headers=a["adam"])
    assert inside.status_code == 422 and "not a public address" in inside.text
    for dsn in (
        "postgresql://u:p@db.example/x?passfile=/etc/shadow",
        "postgresql://u:p@h1.example,h2.example/x",
        "postgresql:///x?host=/var/run/postgresql",
    ):
        refused_dsn = await api.put("/v1/sources/x", json={"dsn": dsn}, headers=a["adam"])
        assert refused_dsn.status_code == 422, dsn
    for roles in (["Bad Role"], ["analyst"]):
        bad_role = await api.put("/v1/sources/x", json={**hr, "roles": roles}, headers=a["adam"])
        assert bad_role.status_code == 422, roles

    listed = await api.get("/v1/sources", headers=a["ada"])
    assert [s["name"] for s in listed.json()["sources"]] == ["shop"] and pg_url not in listed.text
    assert (await api.get("/v1/sources/hr", headers=a["ada"])).status_code == 404
    assert (await api.get("/v1/sources/hr", headers=a["olga"])).status_code == 200

    # Another tenant: nothing to list, read, delete, ingest or query.
    assert (await api.get("/v1/sources", headers=b["bea"])).json()["sources"] == []
    assert (await api.get("/v1/sources/shop", headers=b["bea"])).status_code == 404
    assert (await api.delete("/v1/sources/shop", headers=b["bea"])).status_code == 404
    sql = {"sql": [{"database": "shop", "query": "SELECT id, note FROM src_orders"}]}
    ingest = await api.post("/v1/documents", json=sql, headers=b["bea"])
    assert ingest.status_code == 404, ingest.text
    query = {"database": "shop", "query": "SELECT note FROM src_orders ORDER BY id"}
    theirs = await _invoke(api, b["bea"], **query)
    assert theirs["status"] == 502 and "no SQL source named 'shop'" in theirs["detail"], theirs

    # The tenant's own: queried read-only, ingested; a role-restricted one only by that role.
    ours = await _invoke(api, a["ada"], **query)
    assert ours["status"] == "completed", ours
    assert [r["note"] for r in ours["output"]["rows"]] == ["forty chairs", "one desk"]
    restricted = await _invoke(api, a["ada"], database="hr", query="SELECT 1 AS one")
    assert restricted["status"] == 502 and "operator" in restricted["detail"], restricted
    analyst = await _invoke(api, a["olga"], database="hr", query="SELECT 1 AS one")
    assert analyst["status"] == "completed", analyst
    assert (await api.post("/v1/documents", json=sql, headers=a["ada"])).status_code == 202

    assert (await api.delete("/v1/sources/shop", headers=a["ada"])).status_code == 403
    assert (await api.delete("/v1/sources/shop", headers=a["adam"])).status_code == 204
    assert (await api.get("/v1/sources/shop", headers=a["adam"])).status_code == 404


async def test_mcp_servers_and_egress_are_the_tenants_own(api: httpx.AsyncClient) -> None:
    a = await _tenant(api, adam=["admin"], ada=["user"])
    b = await _tenant(api, bea=["admin"])
    server = {"url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer s3cret"}}
    assert (await api.put("/v1/mcp-servers/tix", json=server, headers=a["ada"])).status_code == 403
    # A private address the operator did not allow is refused before anything is stored.
    private = await api.put("/v1/mcp-servers/tix", json=server, headers=a["adam"])
    assert private.status_code == 422 and "not a public address" in private.text
    bad = await api.put(
        "/v1/mcp-servers/tix",
        json={**server, "headers": {"X": "a\r\nInjected: 1"}},
        headers=a["adam"],
    )
    assert bad.status_code == 422
    assert (await api.get("/v1/mcp-servers/tix", headers=b["bea"])).status_code == 404
    assert (await api.get("/v1/mcp-servers", headers=a["ada"])).json()["mcp_servers"] == []

    egress = {"domains": ["Acme.example", "*.github.com"]}
    assert (await api.put("/v1/egress", json=egress, headers=a["ada"])).status_code == 403
    put = await api.put("/v1/egress", json=egress, headers=a["adam"])
    assert put.status_code == 200 and put.json()["domains"] == ["acme.example", "github.com"]
    assert (await api.get("/v1/egress", headers=a["ada"])).json()["domains"] == [
        "acme.example",
        "github.com",
    ]
    assert (await api.get("/v1/egress", headers=b["bea"])).json()["domains"] == []
    url = {"domains": ["https://x.example/a"]}
    wrong = await api.put("/v1/egress", json=url, headers=a["adam"])
    assert wrong.status_code == 422 and "without scheme" in wrong.text


async def test_the_cli_sets_a_source_with_its_dsn_from_the_environment(
    reachable: Stack, pg_url: str, monkeypatch: Any
) -> None:
    import json

    from tests.conftest import serving
    from tests.helpers import aios

    async with api_client(app_for(reachable)) as api:
        admin = await make_key(api, f"src-{uuid.uuid4().hex[:8]}", "adam", roles=["admin"])
        async with serving(app_for(reachable)) as url, over_tcp(pg_url) as dsn:
            monkeypatch.setenv("SHOP_DSN", dsn)
            code, out, err = await aios(
                url,
                *("sources", "set", "shop", "--dsn-env", "SHOP_DSN", "--role", "operator"),
                "--json",
                key=admin["key"],
            )
        assert code == 0, err
        assert json.loads(out)["roles"] == ["operator"] and "postgresql://" not in out
        listed = await api.get("/v1/sources", headers=as_key(admin["key"]))
        assert [s["name"] for s in listed.json()["sources"]] == ["shop"]
