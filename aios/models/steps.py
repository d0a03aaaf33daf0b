"""The activities a run's steps are: planning (its input and the checked plan it returns), a step's
input and result, and a tool as the registry describes it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from aios.guardrails import Finding
from aios.models.llm import Budget, CacheMode, ContextTrim, RoutingNote, Usage
from aios.plan import Plan, RetrySpec
from aios.versions import RunVersions
from aios.vocabulary import PlannerName


class PlanningInput(BaseModel):
    goal: str
    planner: PlannerName = PlannerName.HYBRID
    skill: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    tenant: str = "default"
    user_id: str = "anonymous"
    roles: list[str] | None = None
    # A client-supplied plan: validated against the tool registry instead of planning.
    plan: Plan | None = None
    budget: Budget | None = None
    # Replanning: what failed, and what already completed (by step id, outputs by reference).
    failed_step: str | None = None
    failure: str | None = None
    completed: list[str] = Field(default_factory=list)
    # The planner prompt's version and the model the run was pinned to (aios/versions.py).
    versions: RunVersions | None = None
    # The run's LLM response cache mode (None: `auto`): `off` keeps the planner's calls out of
    # the cache too.
    cache: CacheMode | None = None


class PlanningResult(BaseModel):
    plan: Plan
    planner: str
    rationale: str = ""
    usage: Usage = Field(default_factory=Usage)
    # Plans an LLM wrote can be revised when a step fails; templates and client plans cannot.
    replannable: bool = False
    tools_requiring_approval: list[str] = Field(default_factory=list)
    # Tools with side effects: their steps get SIDE_EFFECT_RETRY unless the plan says otherwise.
    side_effect_tools: list[str] = Field(default_factory=list)
    # Tools' own retry policies, for steps that name none.
    tool_retries: dict[str, RetrySpec] = Field(default_factory=dict)
    # A skill's inputs completed with their defaults (what `run.inputs.*` resolves against).
    inputs: dict[str, Any] | None = None
    # The skill the plan is (the one named, or the one the rule planner or the hybrid fallback
    # picked); None for a client's or the model's plan.
    skill: str | None = None
    # The run's versions with that skill's pins (activities/versions.py), where the planning
    # activity resolved them: the run then uses and records these. None: the run's own.
    versions: RunVersions | None = None


class StepInput(BaseModel):
    """What every step activity receives: resolved arguments plus identity for idempotency."""

    run_id: str
    step_id: str
    tenant: str
    user_id: str
    args: dict[str, Any] = Field(default_factory=dict)
    tool: str | None = None
    # Stable across retries and worker restarts: tools with side effects key on it.
    idempotency_key: str = ""
    budget: Budget | None = None
    # The step's retry limit, so an activity knows its last attempt (provider fallback).
    max_attempts: int = 0
    # The run's conversation: an llm step's prompt gets its summary and the user's facts.
    session_id: str | None = None
    # The run's LLM response cache mode (None: `auto`) and skill (the confidence histogram's).
    cache: CacheMode | None = None
    skill: str | None = None
    # The prompt versions and model the run was pinned to (aios/versions.py).
    versions: RunVersions | None = None
    # The caller's roles: a tenant's SQL sources and MCP servers may be restricted to some.
    roles: list[str] | None = None
    # Untrusted content is in the step's context (the taint rules): a tool that reaches outside
    # goes only to the tenant's allowed domains (aios/sources.py), unless a person approved
    # this call (`egress_approved`).
    tainted: bool = False
    egress_approved: bool = False
    # With `tainted`: the call may go to any host (a research step reads the open web by design),
    # and is checked only for the user's private data it would carry.
    egress_any_host: bool = False
    # A person said a call left in doubt (aios.sources.CallInDoubt) did not happen: send it again.
    resend_in_doubt: bool = False


class StepResult(BaseModel):
    output: Any = None
    # The output carries content from outside (documents, web pages, tool results): whatever a
    # model derives from it may not cause a side effect without approval.
    untrusted: bool = False
    findings: list[Finding] = Field(default_factory=list)
    attempt: int = 1
    usage: Usage = Field(default_factory=Usage)
    routing: list[RoutingNote] = Field(default_factory=list)
    # What the call's prompt cut to fit the model's window (None: nothing was cut).
    context_trim: ContextTrim | None = None


SideEffects = Literal["none", "reads", "writes"]


class ToolSpec(BaseModel):
    """A tool as the registry lists it (`GET /v1/tools`)."""

    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None = None
    # `writes`: changes something outside AIOS (retried with the side-effect policy, idempotency
    # key honoured, approval before an agent may call it); `reads`: looks outside; `none`: pure.
    side_effects: SideEffects = "none"
    requires_approval: bool = False
    # Roles allowed to use the tool; empty: every caller.
    roles: list[str] = Field(default_factory=list)
    timeout_s: float = 60.0
