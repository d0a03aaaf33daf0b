"""MCP both ways, against real peers made with the `mcp` package: AIOS calling an MCP server's
tools (streamable HTTP and stdio), and MCP clients driving AIOS (the API's `/mcp` and `aios mcp`
over stdio)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from mcp.types import TextContent
from temporalio.testing import WorkflowEnvironment

from activities.tools import ToolRegistry, add_mcp_tools
from aios.errors import ConfigurationError
from aios.models import AgentRunInput
from aios.plan import Plan
from aios.stores.ledger.deferred import flush_deferred_settles
from tests.conftest import REPO, Stack, app_for, running_stack, serving
from tests.helpers import finish, start_plan, wait_for
from workflows.agent_run import AgentRunWorkflow


@pytest.fixture(scope="module")
def peer_url() -> Iterator[str]:
    import uvicorn

    from tests.support.mcp_peer import http_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(http_app(), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/mcp"
    server.should_exit = True
    thread.join(timeout=5)


STDIO_PEER = {
    "command": sys.executable,
    "args": ["-m", "tests.support.mcp_peer"],
    "env_from": {"PYTHONPATH": "AIOS_TEST_PYTHONPATH"},
}


async def test_mcp_tools_join_the_registry_from_http_and_stdio(
    peer_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIOS_TEST_PYTHONPATH", str(REPO))
    registry = ToolRegistry()
    await add_mcp_tools(
        registry,
        {
            "web": {"url": peer_url, "side_effects": "reads"},
            "local": STDIO_PEER,
            "down": {"url": "http://127.0.0.1:9/mcp"},
        },
    )
    assert {"web.add", "web.lookup", "local.add", "local.lookup"} <= registry.names()
    assert not [n for n in registry.names() if n.startswith("down.")], "a dead server is skipped"
    spec = registry.get("web.add").spec()
    assert spec.input_schema["required"] == ["a", "b"] and spec.side_effects == "reads"
    with pytest.raises(ConfigurationError, match="url"):
        await add_mcp_tools(ToolRegistry(), {"bad": {"url": "ftp://x"}})


@contextlib.asynccontextmanager
async def mcp_stack(
    stack: Stack, env: WorkflowEnvironment, servers: dict[str, Any]
) -> AsyncIterator[Stack]:
    settings = stack.settings.model_copy(
        update={
            "mcp_servers": servers,
            "task_queue": f"{stack.settings.task_queue}-mcp",
            "data_dir": stack.settings.data_dir / "mcp",
        }
    )
    async with running_stack(settings, stack.pool, env, stack.resources.embedder) as second:
        yield second


async def test_a_plan_calls_mcp_tools_as_activities(
    stack: Stack, temporal_env: WorkflowEnvironment, peer_url: str
) -> None:
    async with mcp_stack(stack, temporal_env, {"web": {"url": peer_url}}) as second:
        handle = await start_plan(
            second.client,
            second.settings.task_queue,
            [{"id": "sum", "kind": "tool", "tool": "web.add", "args": {"a": 2, "b": 40}}],
        )
        state = await finish(handle)
        assert state.status == "completed", state.error
        output = await handle.query(AgentRunWorkflow.step_output, _step("sum"))
        assert output.output["content"] == ["42"]

        bad = await start_plan(
            second.client,
            second.settings.task_queue,
            [
                {
                    "id": "x",
                    "kind": "tool",
                    "tool": "web.lookup",
                    "args": {"city": "Atlantis"},
                    "retry": {"max_attempts": 1},
                }
            ],
        )
        failed = await finish(bad)
        assert failed.status == "failed" and "no such city" in (failed.error or "")
        wrong = await start_plan(
            second.client,
            second.settings.task_queue,
            [
                {
                    "id": "x",
                    "kind": "tool",
                    "tool": "web.add",
                    "args": {"a": "two"},
                    "retry": {"max_attempts": 1},
                }
            ],
        )
        refused = await finish(wrong)
        assert refused.status == "failed" and "invalid arguments for tool 'web.add'" in (
            refused.error or ""
        )


def _step(step_id: str) -> Any:
    from aios.models import StepOutputQuery

    return StepOutputQuery(step_id=step_id)


async def test_an_mcp_client_drives_aios_over_http(stack: Stack) -> None:
    import httpx
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with serving(app_for(stack)) as base:
        async with httpx.AsyncClient() as plain:
            refused = await plain.post(f"{base}/mcp", json={})
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        http = httpx2.AsyncClient(headers={"Authorization": "Bearer test-key"}, timeout=60)
        async with Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert names >= {"start_run", "get_run", "answer_approval", "search", "list_tools"}
            tools = _json(await client.call_tool("list_tools", {}))
            assert any(
                t["name"] == "publish_report" and t["requires_approval"] for t in tools["tools"]
            )
            # Start a run that ends in an approval, follow it, approve it, see it finish.
            started = _json(
                await client.call_tool(
                    "start_run",
                    {
                        "goal": "What is a plan?",
                        "skill": "research_report",
                        "inputs": {"publish": True},
                    },
                )
            )
            run = _json(
                await client.call_tool("get_run", {"run_id": started["run_id"], "wait_s": 60})
            )
            [pending] = run["pending_approvals"]
            answered = _json(
                await client.call_tool(
                    "answer_approval",
                    {
                        "run_id": run["run_id"],
                        "approval_id": pending["approval_id"],
                        "args_hash": pending["args_hash"],
                        "comment": "fine",
                    },
                )
            )
            assert answered["status"] in ("applied", "accepted")
            run = _json(await client.call_tool("get_run", {"run_id": run["run_id"], "wait_s": 60}))
            assert run["status"] == "completed"
            assert run["steps"][-1] == {"id": "publish", "status": "completed", "error": None}


def _json(result: Any) -> Any:
    if result.structured_content is not None:
        content = result.structured_content
        return (
            content.get("result", content)
            if isinstance(content, dict) and set(content) == {"result"}
            else content
        )
    return json.loads(result.content[0].text)


async def test_aios_mcp_over_stdio_starts_and_follows_a_run(stack: Stack) -> None:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    async with serving(app_for(stack)) as base:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "cli", "mcp"],
            env={
                "AIOS_API_URL": base,
                "AIOS_API_KEY": "test-key",
                "PYTHONPATH": str(REPO),
                "PATH": os.environ.get("PATH", ""),
            },
            cwd=str(REPO),
        )
        async with Client(params) as client:
            started = _json(await client.call_tool("start_run", {"goal": "What is a plan?"}))
            run = _json(
                await client.call_tool("get_run", {"run_id": started["run_id"], "wait_s": 60})
            )
            assert run["status"] == "completed" and run["answer"]
            missing = await client.call_tool("get_run", {"run_id": "run-nope"})
            [message] = missing.content
            assert missing.is_error and isinstance(message, TextContent)
            assert "no run" in message.text


async def test_a_tenants_own_mcp_server_is_its_alone(
    settings: Any, pool: Any, temporal_env: WorkflowEnvironment, embedder: Any, peer_url: str
) -> None:
    """An admin registers the tenant's server through the API (its tools are listed then; the
    token never comes back); the tenant's runs call its tools; another tenant's plan naming them
    is refused, and reads of it are 404."""
    import uuid

    from tests.conftest import api_client
    from tests.helpers import as_key, make_key

    # The peer is on this machine: a stack (API and worker) that lets tenants reach it.
    allowed = settings.model_copy(update={"fetch_allow": ["127.0.0.1"]})
    async with (
        running_stack(allowed, pool, temporal_env, embedder) as stack,
        api_client(app_for(stack)) as api,
    ):
        keys = {}
        for tenant in ("a", "b"):
            name = f"mcp-{tenant}-{uuid.uuid4().hex[:6]}"
            made = await make_key(api, name, "adam", roles=["admin"])
            keys[tenant] = as_key(made["key"])
        body = {
            "url": peer_url,
            "headers": {"Authorization": "Bearer tok-3141"},
            "side_effects": "reads",
        }
        put = await api.put("/v1/mcp-servers/peer", json=body, headers=keys["a"])
        assert put.status_code == 200, put.text
        assert "tok-3141" not in put.text and put.json()["header_names"] == ["Authorization"]
        assert {t["name"] for t in put.json()["tools"]} >= {"add", "lookup"}
        listed = await api.get("/v1/tools", headers=keys["a"])
        assert "peer.add" in {t["name"] for t in listed.json()["tools"]}
        assert "peer.add" not in {
            t["name"] for t in (await api.get("/v1/tools", headers=keys["b"])).json()["tools"]
        }
        assert (await api.get("/v1/mcp-servers/peer", headers=keys["b"])).status_code == 404

        step = {"id": "sum", "kind": "tool", "tool": "peer.add", "args": {"a": 2, "b": 5}}
        plan = {"steps": [step]}
        started = await api.post("/v1/runs", json={"goal": "add", "plan": plan}, headers=keys["a"])
        assert started.status_code == 202, started.text
        run_url = f"/v1/runs/{started.json()['run_id']}"
        for _ in range(300):
            run = (await api.get(run_url, headers=keys["a"])).json()
            if run["status"] not in ("queued", "running"):
                break
            await asyncio.sleep(0.1)
        assert run["status"] == "completed", run.get("error")
        theirs = await api.post("/v1/runs", json={"goal": "add", "plan": plan}, headers=keys["b"])
        assert theirs.status_code == 422 and "peer.add" in theirs.text
        assert (await api.delete("/v1/mcp-servers/peer", headers=keys["a"])).status_code == 204


async def test_mcp_writes_are_keyed_or_journalled_and_never_sent_twice_blindly(
    stack: Stack, temporal_env: WorkflowEnvironment, peer_url: str
) -> None:
    """A write tool that takes an idempotency key gets the step's; one that does not is
    journalled before it is sent. A call an earlier attempt left `sending` (cut off: its outcome
    unknown) is in doubt: not sent again, the run asks a person, and only their approval sends
    it, once."""
    from activities.net import FetchRefused
    from activities.tools.mcp_tools import McpServerConfig, list_remote_tools, mcp_tool
    from activities.tools.registry import ToolContext, ToolServices
    from aios.models import ApprovalDecision
    from aios.sources import CallInDoubt
    from tests.conftest import run_id
    from tests.support import mcp_peer

    config = McpServerConfig(url=peer_url, side_effects="writes")
    remote = {t.name: t for t in await list_remote_tools(config)}
    book, record = (mcp_tool("web", config, remote[n]) for n in ("book", "record"))

    def ctx(key: str, **extra: Any) -> ToolContext:
        services = ToolServices(settings=stack.settings)
        return ToolContext("default", "ada", "run-x", "s", key, stack.pool, services, **extra)

    # A tenant's own server is reached only where tenants may reach (not this machine, here).
    theirs = mcp_tool("web", McpServerConfig(url=peer_url), remote["add"], tenant="default")
    with pytest.raises(FetchRefused, match="not a public address"):
        await theirs.fn(theirs.args_model.model_validate({"a": 1, "b": 2}), ctx("run-y/s"))

    key = f"run-{uuid.uuid4().hex}/s"
    for _ in range(2):  # a retry with the same key: the server books once
        await book.fn(book.args_model.model_validate({"item": "desk"}), ctx(key))
    assert mcp_peer.BOOKINGS[key] == "desk"
    note = record.args_model.model_validate({"note": f"n-{key}"})
    assert (await record.fn(note, ctx(key)))["content"] == [f"recorded n-{key}"]
    assert (await record.fn(note, ctx(key)))["replayed"] is True
    assert mcp_peer.WRITES.count(f"n-{key}") == 1

    # An attempt cut off after journalling the call: nobody knows whether it happened.
    cut = f"run-{uuid.uuid4().hex}/s"
    await stack.pool.execute(
        "INSERT INTO mcp_calls (idempotency_key, tenant, tool, args_sha256, status)"
        " VALUES ($1, 'default', 'web.record', '', 'sending')",
        cut,
    )
    for _ in range(2):
        with pytest.raises(CallInDoubt):
            await record.fn(note, ctx(cut))
    assert mcp_peer.WRITES.count(f"n-{key}") == 1

    async with mcp_stack(stack, temporal_env, {"web": {"url": peer_url}}) as second:
        rid = run_id()
        await stack.pool.execute(
            "INSERT INTO mcp_calls (idempotency_key, tenant, tool, args_sha256, status)"
            " VALUES ($1, 'default', 'web.record', '', 'sending')",
            f"{rid}/rec",
        )
        step = {"id": "rec", "kind": "tool", "tool": "web.record", "args": {"note": rid}}
        handle = await second.client.start_workflow(
            AgentRunWorkflow.run,
            AgentRunInput(goal="record", plan=Plan.model_validate({"steps": [step]})),
            id=rid,
            task_queue=second.settings.task_queue,
        )
        state = await wait_for(handle, lambda s: bool(s.pending_approvals), timeout_s=30)
        [pending] = state.pending_approvals
        assert "may or may not have reached its server" in pending.reason
        assert rid not in mcp_peer.WRITES
        await handle.execute_update(
            AgentRunWorkflow.approve,
            ApprovalDecision(approval_id=pending.approval_id, args_hash=pending.args_hash),
        )
        done = await finish(handle)
        assert done.status == "completed", done.error
        assert mcp_peer.WRITES.count(rid) == 1


async def test_four_eyes_hold_through_the_mcp_server(stack: Stack) -> None:
    """The MCP server acts with the caller's own key: an approver who requested the run is
    refused on their own approval (four eyes) and nothing changes; another approver's key (the
    admin's) answers it."""
    import httpx
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    from tests.gateway.test_authz import _awaiting
    from tests.helpers import keys_by_role

    async with (
        serving(app_for(stack)) as base,
        httpx.AsyncClient(
            base_url=base, headers={"Authorization": "Bearer test-key"}, timeout=60
        ) as api,
    ):
        keys = await keys_by_role(api)
        state = await _awaiting(api, keys["carol"])
        [pending] = state["pending_approvals"]
        answer = {
            "run_id": state["run_id"],
            "approval_id": pending["approval_id"],
            "args_hash": pending["args_hash"],
        }

        async def answer_as(user: str) -> Any:
            http = httpx2.AsyncClient(headers=keys[user], timeout=60)
            async with Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client:
                return await client.call_tool("answer_approval", answer)

        refused = await answer_as("carol")
        [message] = refused.content
        assert refused.is_error and isinstance(message, TextContent)
        assert "four eyes" in message.text, message.text
        still = (await api.get(f"/v1/runs/{state['run_id']}", headers=keys["carol"])).json()
        assert still["status"] == "awaiting_approval" and still["pending_approvals"]
        answered = await answer_as("adam")
        assert not answered.is_error, answered.content
        assert _json(answered)["status"] in ("applied", "accepted")


async def test_a_priced_mcp_servers_calls_are_reserved_and_refused_over_a_cap(
    peer_url: str, stack: Stack
) -> None:
    """A server with `price_usd` (AIOS_MCP_SERVERS here; a tenant's through PUT
    /v1/mcp-servers) is charged per call like a paid web search: reserved before it is sent,
    settled at its price, refused over a cap and never sent."""
    import dataclasses
    from decimal import Decimal

    from temporalio.exceptions import ApplicationError
    from temporalio.testing import ActivityEnvironment

    from activities.tools.invoke import ToolActivities
    from activities.tools.registry import ToolServices
    from aios.models import StepInput
    from aios.stores.ledger import LedgerStore

    settings = stack.settings
    tenant, user = settings.env_sources_tenant, f"mcp-payer-{uuid.uuid4().hex[:6]}"
    registry = ToolRegistry()
    await add_mcp_tools(registry, {"paid": {"url": peer_url, "price_usd": 0.004}})
    await LedgerStore(stack.pool).set_cap(
        tenant, "user", user, "day", usd=0.01, tokens=None, created_by="test"
    )
    tools = ToolActivities(registry, stack.pool, ToolServices(settings=settings))

    async def add(n: int) -> None:
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, workflow_id=f"run-{user}", activity_id=str(n))
        await env.run(
            tools.invoke_tool,
            StepInput(
                run_id=f"run-{user}",
                step_id=f"s{n}",
                tenant=tenant,
                user_id=user,
                tool="paid.add",
                args={"a": n, "b": 1},
                idempotency_key=f"run-{user}/s{n}",
            ),
        )

    await add(1)
    await add(2)
    with pytest.raises(ApplicationError) as refused:
        await add(3)  # $0.012 would cross the $0.01 cap
    assert refused.value.message.startswith(f"budget_exhausted: user {user}, day ")
    await flush_deferred_settles()  # settles wait to be carried (decision 0055)
    entries = await stack.pool.fetch(
        "SELECT model, status, usd FROM ledger_entries WHERE user_id = $1", user
    )
    assert [tuple(e) for e in entries] == [("mcp:paid.add", "settled", Decimal("0.004"))] * 2
