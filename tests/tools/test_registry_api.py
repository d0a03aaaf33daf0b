"""The tool registry as callers see it: listing, direct invocation under the tool's policy,
roles, and tools made with the decorator."""

from __future__ import annotations

import httpx
import pytest
from pydantic import BaseModel

from activities.tools.registry import Tool, ToolContext, ToolRegistry, tool
from aios.errors import ConfigurationError
from tests.conftest import Stack, api_client, app_for
from tests.helpers import finish, start_plan


class Shout(BaseModel):
    text: str


class Shouted(BaseModel):
    text: str


@tool(roles=["ops"], timeout_s=5)
async def shout(args: Shout, ctx: ToolContext) -> Shouted:
    """Repeat a text in capitals.

    The rest of the docstring is not part of the description."""
    return Shouted(text=args.text.upper())


def test_the_decorator_takes_schemas_and_description_from_the_function() -> None:
    assert isinstance(shout, Tool)
    spec = shout.spec()
    assert spec.name == "shout" and spec.description == "Repeat a text in capitals."
    assert spec.input_schema["properties"]["text"]["type"] == "string"
    assert spec.output_schema is not None and "text" in spec.output_schema["properties"]
    assert spec.roles == ["ops"] and spec.side_effects == "none" and spec.timeout_s == 5
    assert shout.allows(["ops"]) and shout.allows(["admin"]) and not shout.allows(["user"])
    registry = ToolRegistry()
    registry.register(shout)
    with pytest.raises(ConfigurationError, match="registered twice"):
        registry.register(shout)

    with pytest.raises(ConfigurationError, match="pydantic model"):

        @tool()
        async def untyped(args, ctx):  # type: ignore[no-untyped-def]
            """No annotations."""


async def test_tools_are_listed_with_their_policies(api: httpx.AsyncClient) -> None:
    listing = (await api.get("/v1/tools")).json()["tools"]
    by_name = {t["name"]: t for t in listing}
    publish = by_name["publish_report"]
    assert publish["side_effects"] == "writes" and publish["requires_approval"] is True
    assert set(publish) >= {
        "name",
        "description",
        "input_schema",
        "output_schema",
        "side_effects",
        "requires_approval",
        "roles",
        "timeout_s",
    }
    assert by_name["word_count"]["side_effects"] == "none"
    assert {"rag_search", "memory_read", "memory_write"} <= set(by_name)


async def test_a_tool_is_invoked_as_a_one_step_run(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/tools/word_count/invoke", json={"args": {"text": "a b c"}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["output"] == {"words": 3, "characters": 5} and body["status"] == "completed"
    run = (await api.get(f"/v1/runs/{body['run_id']}")).json()
    assert run["status"] == "completed" and run["goal"] == "invoke word_count"


async def test_bad_invocations_are_refused(api: httpx.AsyncClient) -> None:
    missing = await api.post("/v1/tools/word_count/invoke", json={"args": {}})
    assert missing.status_code == 422 and "text" in missing.json()["detail"]
    approval = await api.post(
        "/v1/tools/publish_report/invoke", json={"args": {"title": "t", "body": "b"}}
    )
    assert approval.status_code == 409 and "requires approval" in approval.json()["detail"]
    unknown = await api.post("/v1/tools/nope/invoke", json={"args": {}})
    assert unknown.status_code == 404 and "word_count" in unknown.json()["detail"]
    # Under the tool's retry policy: a failing first attempt is retried ...
    retried = await api.post("/v1/tools/flaky/invoke", json={"args": {"succeed_on_attempt": 2}})
    assert retried.status_code == 200 and retried.json()["output"] == {"attempt": 2}
    # ... and a tool that keeps failing is a 502 naming the error and the run.
    failing = await api.post(
        "/v1/tools/flaky/invoke", json={"args": {"succeed_on_attempt": 99, "message": "down"}}
    )
    assert failing.status_code == 502, failing.text
    assert "down" in failing.json()["detail"] and "run-" in failing.json()["detail"]


async def test_roles_limit_tools_in_listings_invocations_and_plans(stack: Stack) -> None:
    stack.resources.registry.register(shout)
    app = app_for(stack)
    async with api_client(app) as api:
        from api.deps import Principal, _principal

        app.dependency_overrides[_principal] = lambda: Principal(
            "default", "u", frozenset({"user"})
        )
        names = {t["name"] for t in (await api.get("/v1/tools")).json()["tools"]}
        assert "shout" not in names and "word_count" in names
        denied = await api.post("/v1/tools/shout/invoke", json={"args": {"text": "hi"}})
        assert denied.status_code == 404
        plan = {"steps": [{"id": "s", "kind": "tool", "tool": "shout", "args": {"text": "x"}}]}
        refused = await api.post("/v1/runs", json={"goal": "g", "plan": plan})
        assert refused.status_code == 422
        assert "needs one of the roles ops" in refused.json()["detail"]

        app.dependency_overrides[_principal] = lambda: Principal("default", "u", frozenset({"ops"}))
        ok = await api.post("/v1/tools/shout/invoke", json={"args": {"text": "hi"}})
        assert ok.status_code == 200 and ok.json()["output"] == {"text": "HI"}
    # A run started through Temporal by an operator is not restricted.
    handle = await start_plan(
        stack.client,
        stack.settings.task_queue,
        [{"id": "s", "kind": "tool", "tool": "shout", "args": {"text": "x"}}],
    )
    assert (await finish(handle)).status == "completed"
