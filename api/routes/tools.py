"""Tools: the registry as callers see it, and direct invocation.

A direct invocation runs as a one-step run (a client plan with a single `tool` step), so it gets
exactly a run's policy: the tool's timeout and retry policy, an idempotency key, events and an
audit trail in Temporal. A tool that requires approval cannot be invoked directly (409): it needs
a run, where the approval can be asked for.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pydantic
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import WorkflowFailureError
from ulid import ULID

from aios import search_attributes as sa
from aios.errors import (
    AiosError,
    Conflict,
    NotFound,
    ValidationFailed,
    describe_field_errors,
)
from aios.models import AgentRunInput, StepOutputQuery, ToolSpec
from aios.plan import Plan
from aios.temporal import AGENT_RUN_ID_PREFIX
from aios.vocabulary import RunStatus
from api.deps import PrincipalDep, RegistryDep, SettingsDep, TemporalDep
from api.examples import example
from api.temporal_reads import UNREACHABLE, unavailable
from workflows.agent_run import CURRENT_PATCHES, AgentRunWorkflow

router = APIRouter(prefix="/v1/tools", tags=["tools"])

INVOKE_STEP = "invoke"
# How long the API waits for a direct invocation before answering 202 with the run to follow.
MAX_WAIT_S = 60.0


class ToolList(BaseModel):
    tools: list[ToolSpec]


class Invoke(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"args": {"text": "count these words"}}]}
    )

    args: dict[str, Any] = Field(default_factory=dict)


class Invoked(BaseModel):
    output: Any = None
    run_id: str
    status: RunStatus


class ToolFailed(AiosError):
    http_status = 502
    code = "tool_failed"


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
    registry: RegistryDep,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> Invoked:
    """Run one tool under its policy and answer its output. Arguments are checked against the
    tool's schema first (422 naming the field); a tool that requires approval is 409; a tool the
    caller's roles do not allow is 404, as if it did not exist."""
    tool = registry.get(name)  # NotFound (404) names the known tools
    if not tool.allows(principal.roles):
        raise NotFound(f"unknown tool {name!r}")
    if tool.requires_approval:
        raise Conflict(
            f"the tool {name!r} requires approval: start a run with a `tool` step instead "
            "(POST /v1/runs with a plan), where a reviewer can approve the call"
        )
    try:
        tool.args_model.model_validate(body.args)
    except pydantic.ValidationError as e:
        raise ValidationFailed(
            f"invalid arguments for tool {name!r}: {describe_field_errors(e.errors())}"
        ) from None

    run_id = f"{AGENT_RUN_ID_PREFIX}{str(ULID()).lower()}"
    plan = Plan.model_validate(
        {
            "steps": [
                {
                    "id": INVOKE_STEP,
                    "kind": "tool",
                    "tool": name,
                    "args": body.args,
                    "timeout_s": tool.timeout_s,
                }
            ]
        }
    )
    try:
        handle = await temporal.start_workflow(
            AgentRunWorkflow.run,
            AgentRunInput(
                patches=CURRENT_PATCHES,
                goal=f"invoke {name}",
                tenant=principal.tenant,
                user_id=principal.user_id,
                roles=sorted(principal.roles),
                plan=plan,
                activity_queues=settings.activity_queues(),
            ),
            id=run_id,
            task_queue=settings.task_queue,
            search_attributes=sa.owned_by(principal.tenant, principal.user_id, RunStatus.QUEUED),
            memo={"goal": f"invoke {name}"},
            static_summary=f"invoke tool {name}",
            rpc_timeout=timedelta(seconds=settings.read_timeout_s * 3),
        )
    except UNREACHABLE as e:
        raise unavailable(settings, "the invocation", e) from e
    response.headers["Location"] = f"{str(request.base_url).rstrip('/')}/v1/runs/{run_id}"
    try:
        await asyncio.wait_for(asyncio.shield(handle.result()), MAX_WAIT_S)
    except TimeoutError:
        response.status_code = 202
        return Invoked(run_id=run_id, status=RunStatus.RUNNING)
    except WorkflowFailureError:
        state = await handle.query(AgentRunWorkflow.state)
        raise ToolFailed(
            f"the tool {name!r} failed: {state.error or 'see the run'} (run {run_id})"
        ) from None
    output = await handle.query(AgentRunWorkflow.step_output, StepOutputQuery(step_id=INVOKE_STEP))
    return Invoked(output=output.output, run_id=run_id, status=RunStatus.COMPLETED)
