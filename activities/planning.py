"""Planning: turn a goal into a validated plan.

- `rule`: runs a skill (`skills/*.yaml`): the one named, else the one whose triggers match the
  goal, else `research_report` (retrieve -> key points per source in parallel -> trends -> a cited
  report with verbatim evidence, optionally published after approval).
- `llm`: the model writes the plan as structured output (the DAG, `agent` steps allowed).
- `hybrid` (the default): the rule planner when a skill is named or a skill's triggers match the
  goal, the LLM planner otherwise; when the model cannot plan (a prompt that cannot fit, a plan
  that stays invalid), or the strong model is the bundled one (which does not write usable plans),
  the skill that best matches the goal, else research_report.
Every plan, including a client-supplied one, is checked against the tool registry and the step
schemas before anything runs.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import asyncpg
import pydantic
from temporalio import activity

from activities import context
from activities.common import classified
from activities.llm.activities import LlmActivities
from activities.llm.base import LLMRequest
from activities.llm.caller import ModelCaller
from activities.plan_checks import check_plan
from activities.planning_rules import (
    checked_plan,
    fallback_plan,
    plan_without_model,
    planning_result,
    web_available,
)
from activities.tools.mcp_tools import tenant_mcp_tools
from activities.tools.registry import ToolRegistry, use_tenant_tools
from activities.versions import VersionResolver
from aios.config import BUNDLED_MODEL
from aios.errors import (
    BadModelOutput,
    ContextOverflow,
    ValidationFailed,
    describe_field_errors,
)
from aios.models import Message, PlanningInput, PlanningResult
from aios.plan import (
    STEP_ID_PATTERN,
    Plan,
    PlanError,
    Step,
)
from aios.prompts import PLANNER_SYSTEM
from aios.skills import SkillCatalog
from aios.vocabulary import Activity, PlannerName, StepKind

PLANNING_MAX_TOKENS = 1500
PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "steps": {
            "type": "array",
            "minItems": 1,
            "maxItems": 20,
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "pattern": STEP_ID_PATTERN},
                    "kind": {
                        "type": "string",
                        "enum": ["tool", "llm", "retrieve", "agent", "memory", "skill"],
                    },
                    "title": {"type": "string"},
                    "tool": {"type": ["string", "null"]},
                    "args": {"type": "object"},
                    "depends_on": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["id", "kind", "args"],
            },
        },
        "result_step": {"type": ["string", "null"]},
    },
    "required": ["steps"],
}


def planner_model(request: PlanningInput) -> str:
    """The model that writes the plan: the one the run was pinned to (every model call of a
    pinned run uses it, aios/versions.py), else the strong tier."""
    if request.versions is not None and request.versions.model:
        return request.versions.model
    return "strong"


def planning_max_tokens(window: int) -> int:
    """Room for the plan itself: a plan of a few steps is a few hundred tokens; a small window
    keeps most of itself for the prompt."""
    return min(PLANNING_MAX_TOKENS, max(256, window * 3 // 8))


# Headroom for each message's chat-template tokens and the estimate's error.
PROMPT_MARGIN_TOKENS = 96
# The correction a repair round appends ("That plan cannot run: ..."), at most.
MAX_PROBLEM_CHARS = 400


def catalogue_entries(
    registry: ToolRegistry, skills: SkillCatalog, roles: list[str] | None, tenant: str
) -> list[tuple[str, str]]:
    """Every tool the caller's roles may use that can run for the tenant (no web search without
    a provider) and every skill, one line each, as the planner is shown them."""
    entries = [
        (
            t.name,
            f"- tool {t.name}: {t.description} input schema: "
            f"{json.dumps(t.input_schema, separators=(',', ':'))}",
        )
        for t in registry.specs(roles, tenant=tenant)
    ]
    for skill in skills.all():
        schema = skill.spec.inputs.get("properties", {})
        inputs = ", ".join(sorted(schema)) or "none"
        entries.append(
            (
                f"skill {skill.name}",
                f"- skill {skill.name}: {skill.spec.description} inputs: {inputs}",
            )
        )
    return entries


class PlanningActivities:
    def __init__(
        self,
        registry: ToolRegistry,
        llm: LlmActivities,
        skills: SkillCatalog,
        pool: asyncpg.Pool | None = None,
    ) -> None:
        self._registry = registry
        self._llm = llm
        self._skills = skills
        self._pool = pool  # where the tenants' own MCP servers are registered

    @functools.cached_property
    def _versions(self) -> VersionResolver | None:
        return None if self._pool is None else VersionResolver(self._pool, self._skills)

    @activity.defn(name=Activity.PLAN_RUN)
    @classified
    async def plan_run(self, request: PlanningInput) -> PlanningResult:
        resolver = self._versions
        if resolver is None or request.failed_step is not None:
            return await self._plan(request)
        # A run that carries no versions (a schedule's: its input was written when the schedule
        # was) uses the latest of each, resolved now, at each run's start.
        given = request.versions
        if given is None:
            request = request.model_copy(
                update={"versions": await resolver.for_skill(request.tenant, None, None)}
            )
        planning = await self._plan(request)
        versions = request.versions
        if planning.skill is not None and (versions is None or versions.skill != planning.skill):
            # The skill was picked here (by its triggers, as the fallback, or as a skill step's
            # child run): its own pins hold, where the run's request pinned nothing.
            versions = await resolver.for_skill(request.tenant, versions, planning.skill)
        if versions != given:
            planning.versions = versions
        return planning

    async def _plan(self, request: PlanningInput) -> PlanningResult:
        if self._pool is not None:  # the tenant's own MCP servers' tools may be planned with
            use_tenant_tools(await tenant_mcp_tools(self._pool, request.tenant))
        # The run's cache mode holds for its planning calls too (`off`: no cached plan).
        caller = self._llm.caller(
            request.budget, 0, tenant=request.tenant, user_id=request.user_id, cache=request.cache
        )
        if request.failed_step is not None:
            plan, rationale = await self._llm_plan(request, caller)
            return planning_result(
                self._registry, plan, "llm (revision)", rationale, caller.usage, replannable=True
            )
        bundled_model = self._llm.fast_model == BUNDLED_MODEL
        web = web_available(self._registry, request.tenant)
        planned = plan_without_model(self._registry, self._skills, request, bundled_model, web)
        if planned is not None:
            return planned
        hybrid = request.planner == PlannerName.HYBRID
        if hybrid and self._llm.model_spec(planner_model(request)) == BUNDLED_MODEL:
            # The bundled 135M model does not write plans that pass validation (none of seven
            # ordinary goals in tests/llm/test_bundled_model.py, two rounds each, ~10-40 s a goal on
            # two cores): hybrid planning goes straight to the skill it would fall back to.
            return self._fallback(
                request,
                caller,
                bundled_model,
                f"the {'pinned' if planner_model(request) != 'strong' else 'strong'} model "
                f"is the bundled {BUNDLED_MODEL}, which does not write "
                "usable plans; no skill's triggers match the goal",
            )
        try:
            plan, rationale = await self._llm_plan(request, caller)
            checked_plan(plan, self._registry, request.roles, self._skills)
        except (ContextOverflow, ValidationFailed, BadModelOutput) as e:
            # The model could not plan this goal (a prompt that cannot fit its window, or plans
            # that stay invalid): the hybrid planner falls back to a skill and says why.
            if not hybrid:
                raise
            return self._fallback(
                request, caller, bundled_model, f"the LLM planner failed: {e.message}"
            )
        planner = "hybrid: llm" if hybrid else PlannerName.LLM
        return planning_result(
            self._registry, plan, planner, rationale, caller.usage, replannable=True
        )

    def _fallback(
        self, request: PlanningInput, caller: ModelCaller, bundled_model: bool, why: str
    ) -> PlanningResult:
        """Hybrid planning without the model's plan: the best-matching skill, and why."""
        plan, chosen, inputs, skill = fallback_plan(
            self._skills, request.goal, request.inputs, bundled_model=bundled_model
        )
        checked_plan(plan, self._registry, request.roles, self._skills)
        result = planning_result(
            self._registry,
            plan,
            "hybrid: fallback",
            f"hybrid planner fell back to {chosen}; {why}",
            caller.usage,
            replannable=False,
        )
        result.inputs = inputs
        result.skill = skill
        return result

    async def _planning_messages(
        self, request: PlanningInput, window: int, max_tokens: int
    ) -> tuple[list[Message], str]:
        """The planner's prompt, fitted to the model's window: the tools and skills most
        relevant to the goal, as many as fit. Returns the messages and what was cut (for the
        trace). Raises `ContextOverflow` when even the goal alone cannot fit."""
        ask = f"Goal: {request.goal}\nInputs: {json.dumps(request.inputs)}"
        if request.failed_step is not None:
            ask += (
                f"\nAn earlier plan failed at step {request.failed_step!r}: {request.failure}\n"
                f"Completed steps (refer to their outputs, do not reuse their ids): "
                f"{', '.join(request.completed) or 'none'}.\nPlan only the remaining work, "
                "another way."
            )
        entries = catalogue_entries(self._registry, self._skills, request.roles, request.tenant)
        # The planner prompt's version the run is pinned to, else the code's.
        system = await self._llm.prompts.text(
            request.tenant, request.versions, "planner", PLANNER_SYSTEM
        )
        count = await self._llm.token_counter(
            planner_model(request), [system, ask, *(line for _, line in entries)]
        )
        room = (
            window
            - max_tokens
            - count(system)
            - count(ask)
            - PROMPT_MARGIN_TOKENS
            - context.estimate_tokens("x" * MAX_PROBLEM_CHARS)
        )
        if room < 0:
            raise ContextOverflow(
                f"could not fit the goal in the planning prompt: the model's window is "
                f"{window} tokens and the goal and instructions need {window - room}"
            )
        catalogue = context.fit_catalogue(request.goal, entries, room, count)
        messages = [
            Message(role="system", content=system + ("\n".join(catalogue.lines) or "(none)")),
            Message(role="user", content=ask),
        ]
        return messages, catalogue.note(window)

    async def _llm_plan(self, request: PlanningInput, caller: ModelCaller) -> tuple[Plan, str]:
        """The model writes the plan as structured output; an invalid one gets one repair round
        with the errors, then the run fails with them (or, hybrid, falls back to a skill)."""
        model = planner_model(request)
        window = self._llm.context_window(model)
        max_tokens = planning_max_tokens(window)
        messages, cut = await self._planning_messages(request, window, max_tokens)
        opening = messages
        problem = ""
        for round_ in (1, 2):
            outcome = await caller.call(
                model,
                LLMRequest(
                    model="",
                    messages=messages,
                    max_tokens=max_tokens,
                    temperature=0.0,
                    output_schema=PLAN_SCHEMA,
                    strict_schema=False,
                ),
            )
            try:
                plan = Plan.model_validate(outcome.data)
                check_plan(
                    _with_completed(plan, request.completed),
                    self._registry,
                    request.roles,
                    self._skills,
                )
                rationale = f"LLM planner ({outcome.spec}), round {round_}"
                return plan, f"{rationale}; {cut}" if cut else rationale
            except (PlanError, pydantic.ValidationError) as e:
                problem = (
                    describe_field_errors(e.errors())
                    if isinstance(e, pydantic.ValidationError)
                    else str(e)
                )[:MAX_PROBLEM_CHARS]
            # The repair round shows the model its plan only where the window has room for it
            # (the prompt was fitted with room for the correction alone).
            shown = outcome.response.text
            fits = context.estimate_tokens(shown) <= max_tokens // 2
            messages = [
                *opening,
                *([Message(role="assistant", content=shown)] if fits else []),
                Message(
                    role="user",
                    content=f"That plan cannot run: {problem}. Answer with a corrected plan.",
                ),
            ]
        invalid = f"wrote a plan that stays invalid after one repair: {problem}"
        # The fallback's rationale keeps what the fitted prompt left out of the catalogue.
        raise ValidationFailed(f"{invalid}; {cut}" if cut else invalid)


def _with_completed(plan: Plan, completed: list[str]) -> Plan:
    """A revision may refer to steps that already completed; for checking, they stand in as
    steps with nothing to check. A revision may not reuse their ids."""
    reused = [s.id for s in plan.steps if s.id in completed]
    if reused:
        raise PlanError(f"steps {reused} already completed; give new steps new ids")
    if not completed:
        return plan
    stand_ins = [Step(id=step_id, kind=StepKind.APPROVAL) for step_id in completed]
    return Plan(steps=[*stand_ins, *plan.steps], result_step=plan.result_step_id)
