"""Tools: the registry as callers see it, and direct invocation.

A direct invocation runs as a one-step run (a client plan with a single `tool` step), so it gets
exactly a run's policy: the tool's timeout and retry policy, an idempotency key, events and an
audit trail in Temporal. A tool that requires approval cannot be invoked directly (409): it needs
a run, where the approval can be asked for.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from aios.wire import Invoke, Invoked, ToolList
from api.deps import PrincipalDep, RegistryDep
from api.examples import example
from api.run_service import RunsDep

router = APIRouter(prefix="/v1/tools", tags=["tools"])


@router.get(
    "",
    response_model=ToolList,
    responses=example(
        {
            "tools": [
                {
                    "name": "calculator",
                    "description": "Evaluate an arithmetic expression exactly.",
                    "input_schema": {
                        "type": "object",
                        "properties": {"expression": {"type": "string", "maxLength": 1000}},
                        "required": ["expression"],
                    },
                    "output_schema": {
                        "type": "object",
                        "properties": {
                            "expression": {"type": "string"},
                            "value": {"type": "number"},
                        },
                    },
                    "side_effects": "none",
                    "requires_approval": False,
                    "roles": [],
                    "timeout_s": 5.0,
                }
            ]
        }
    ),
)
async def list_tools(principal: PrincipalDep, registry: RegistryDep) -> ToolList:
    """The tools the caller's roles allow, with their schemas and policies."""
    return ToolList(tools=registry.specs(sorted(principal.roles)))


@router.post(
    "/{name}/invoke",
    response_model=Invoked,
    responses=example(
        {
            "output": {"words": 3},
            "run_id": "run-01jd2x7k9q3m5n8p4r6s0t2v4w",
            "status": "completed",
        }
    ),
)
async def invoke_tool(
    name: str,
    body: Invoke,
    request: Request,
    response: Response,
    principal: PrincipalDep,
    runs: RunsDep,
) -> Invoked:
    """Run one tool under its policy and answer its output. Arguments are checked against the
    tool's schema first (422 naming the field); a tool that requires approval is 409; a tool the
    caller's roles do not allow is 404, as if it did not exist. The invocation is a run: it counts
    against the key's concurrent-run limit like any other. When the tool takes longer than a
    minute, the answer is 202 with the run to follow."""
    invoked, outcome = await runs.invoke_tool(principal, name, body.args)
    response.headers["Location"] = f"{str(request.base_url).rstrip('/')}/v1/runs/{invoked.run_id}"
    if not outcome.final:
        response.status_code = 202
    return invoked
