"""AIOS as an MCP server: start a run, follow it, answer an approval, search the knowledge base,
list the tools. The tools call the AIOS REST API, so they get exactly its checks and tenancy:
`aios mcp` serves them over stdio with the key in AIOS_API_KEY; the API serves them over
streamable HTTP at `/mcp`, with the caller's own key.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from aios.client import ApiClient, ApiError
from aios.errors import AiosError
from aios.models import RunState
from aios.vocabulary import TERMINAL_STATUSES
from aios.wire import CreateRun, StartSkill

ClientFactory = Callable[[], ApiClient]


def _summary(run: RunState) -> dict[str, Any]:
    """What an MCP client needs of a run (the full state is at the REST API)."""
    return {
        "run_id": run.run_id,
        "status": run.status,
        "goal": run.goal,
        "steps": [{"id": s.id, "status": s.status, "error": s.error} for s in run.plan],
        "pending_approvals": [
            {
                "approval_id": a.approval_id,
                "step_id": a.step_id,
                "reason": a.reason,
                "args_hash": a.args_hash,
            }
            for a in run.pending_approvals
        ],
        "answer": run.result.answer if run.result else None,
        "citations": [
            {"title": c.title, "source": c.source}
            for c in (run.result.citations if run.result else [])
        ],
        "error": run.error,
    }


@contextlib.asynccontextmanager
async def _api(client: ClientFactory) -> AsyncIterator[ApiClient]:
    """The API client for one tool call; its refusals reach the MCP client as tool errors with
    the API's own explanation (not a generic "error executing tool")."""
    try:
        async with client() as api:
            yield api
    except ApiError as e:
        raise ToolError(f"{e.message} (HTTP {e.status})") from None
    except AiosError as e:
        raise ToolError(e.message) from None


def build_mcp_server(client: ClientFactory) -> MCPServer:
    server = MCPServer(
        name="aios",
        instructions=(
            "AIOS runs durable AI agent runs. Start one with start_run, follow it with get_run "
            "(wait_s waits for it to finish), answer approvals with answer_approval."
        ),
    )

    @server.tool()
    async def start_run(
        goal: str, skill: str | None = None, inputs: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Start an agent run for a goal (optionally a named skill with its inputs)."""
        async with _api(client) as api:
            if skill:
                started = StartSkill(inputs=inputs or {}, goal=goal)
                created = await api.start_skill(skill, started)
            else:
                created = await api.create_run(CreateRun(goal=goal, inputs=inputs or {}))
        return {"run_id": created.run_id, "status": created.status}

    @server.tool()
    async def get_run(run_id: str, wait_s: float = 0.0) -> dict[str, Any]:
        """A run's status, steps, pending approvals and answer; with wait_s (up to 300), wait
        until it finishes or needs an approval."""
        deadline = asyncio.get_running_loop().time() + min(max(wait_s, 0.0), 300.0)
        async with _api(client) as api:
            while True:
                run = await api.get_run(run_id)
                waiting = run.status in TERMINAL_STATUSES or run.pending_approvals
                if waiting or asyncio.get_running_loop().time() >= deadline:
                    return _summary(run)
                await asyncio.sleep(0.5)

    @server.tool()
    async def answer_approval(
        run_id: str,
        approval_id: str,
        args_hash: str,
        approve: bool = True,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Approve (or reject) a pending approval of a run; args_hash comes from get_run."""
        decision = "approve" if approve else "reject"
        async with _api(client) as api:
            ack = await api.approve(
                run_id,
                approval_id,
                args_hash,
                decision=decision,
                **({"comment": comment} if comment else {}),
            )
        return ack.model_dump(mode="json")

    @server.tool()
    async def search(query: str, k: int = 5) -> dict[str, Any]:
        """Search the knowledge base: passages with their sources and supporting quotes."""
        async with _api(client) as api:
            found = await api.search(query, k=k, quotes=2)
        return {"results": found["results"]}

    @server.tool()
    async def list_tools() -> dict[str, Any]:
        """The tools AIOS runs may use, with their side effects and whether they need approval."""
        async with _api(client) as api:
            listing = await api.tools()
        return {
            "tools": [
                {
                    "name": t.name,
                    "description": t.description,
                    "side_effects": t.side_effects,
                    "requires_approval": t.requires_approval,
                }
                for t in listing.tools
            ]
        }

    return server
