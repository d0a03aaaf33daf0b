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
from activities.tools.mcp_tools import tenant_mcp_tools
from activities.tools.registry import ToolRegistry, use_tenant_tools
from activities.versions import VersionResolver
from aios.config import BUNDLED_MODEL
from aios.errors import (
    BadModelOutput,
    ContextOverflow,
    NotFound,
    ValidationFailed,
    describe_field_errors,
)
from aios.models import Message, PlanningInput, PlanningResult, Usage
from aios.plan import (
    STEP_ID_PATTERN,
    Plan,
    PlanError,
    Step,
    check_planner,
)
from aios.prompts import PLANNER_SYSTEM
from aios.skills import Skill, SkillCatalog
from aios.vocabulary import Activity, PlannerName, StepKind

DEFAULT_SKILL = "research_report"


def rule_plan(
    skills: SkillCatalog,
    goal: str,
    skill_name: str | None,
    inputs: dict[str, Any],
    *,
    bundled_model: bool = False,
    web: bool = False,
) -> tuple[Plan, str, dict[str, Any]]:
    """The rule-based planner: the named skill, else the one whose triggers match the goal
    (`web`: the tenant has a web search provider, so skills' `web_triggers` count too), else
    research_report. Returns the plan, the reason, and the inputs completed with their
    defaults. An input `key_points: auto` becomes `quotes` with the bundled model (whose notes
    are not worth reading) and `model` otherwise."""
    named, skill = _chosen_skill(skills, goal, skill_name, web=web)
    completed = skill.complete_inputs(inputs)
    if completed.get("key_points") == "auto":
        completed["key_points"] = "quotes" if bundled_model else "model"
    reason = f"rule-based planner: skill {skill.name!r} (version {skill.spec.version})"
    why = None if named else skill.why_matched(goal, web=web)
    if why is not None:
        reason += f": {why}"
    return skill.plan(completed), reason, completed


def _chosen_skill(
    skills: SkillCatalog, goal: str, skill_name: str | None, *, web: bool
) -> tuple[Skill | None, Skill]:
    """The skill named (None when none is), and the skill the rule planner runs."""
    try:
        named = skills.get(skill_name) if skill_name else None
    except NotFound as e:  # a field of the request, not a resource of the URL
        raise ValidationFailed(e.message) from None
    return named, named or skills.for_goal(goal, web=web) or skills.get(DEFAULT_SKILL)


def web_available(registry: ToolRegistry, tenant: str | None) -> bool:
    """Whether `tenant` has a web search provider (so web-triggered skills may be chosen); as
    for the planner's catalogue, a registry built without settings counts every tool available."""
    return (
        tenant is not None
        and "web_search" in registry.names()
        and registry.why_unavailable("web_search", tenant) is None
    )


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


def choose_planner(
    planner: PlannerName, goal: str, skill: str | None, skills: SkillCatalog, *, web: bool = False
) -> PlannerName:
    """Which planner makes this plan: `hybrid` picks the rule planner when a skill is named or a
    skill's triggers match the goal (questions, research, reports, summaries; with `web`, the
    web-only triggers too: an analysis of recent trends), the LLM planner otherwise (an errand:
    "send", "compute", "file a ticket")."""
    if planner != PlannerName.HYBRID:
        return planner
    if skill is not None or skills.for_goal(goal, web=web) is not None:
        return PlannerName.RULE
    return PlannerName.LLM


def check_run_request(
    registry: ToolRegistry,
    skills: SkillCatalog,
    *,
    goal: str,
    planner: PlannerName,
    skill: str | None,
    inputs: dict[str, Any],
    plan: Plan | None,
    roles: list[str] | None = None,
    bundled_model: bool = False,
    tenant: str | None = None,
) -> PlanningResult | None:
    """Everything the planning activity will refuse, refused before a run starts (the API calls
    this for runs and schedules): an unavailable planner, an unknown skill or input, a plan this
    deployment cannot run. Raises `ValidationFailed` naming the step or field. Returns the
    planning when it needs no model (`plan_without_model`)."""
    request = PlanningInput(
        goal=goal, planner=planner, skill=skill, inputs=inputs, plan=plan, roles=roles
    )
    if tenant is not None:
        request.tenant = tenant
    return plan_without_model(
        registry, skills, request, bundled_model=bundled_model, web=web_available(registry, tenant)
    )


def plan_without_model(
    registry: ToolRegistry,
    skills: SkillCatalog,
    request: PlanningInput,
    bundled_model: bool,
    web: bool = False,
) -> PlanningResult | None:
    """The planning a run needs when no model is involved: the client's plan or the rule
    planner's, checked. None when the LLM planner must write the plan. The planning activity
    calls this, and so does the API when it starts a run: such a run then starts with its plan
    and makes no planning call at all. Raises `ValidationFailed` for a plan this deployment
    cannot run."""
    inputs: dict[str, Any] | None = None
    skill: str | None = None  # the rule planner's skill
    what = "invalid plan"
    if request.plan is not None:
        plan, planner, rationale = request.plan, "client", "plan supplied by the client"
    else:
        try:
            check_planner(request.planner)
        except PlanError as e:
            raise ValidationFailed(str(e)) from None
        chosen = choose_planner(request.planner, request.goal, request.skill, skills, web=web)
        if chosen != PlannerName.RULE:
            return None
        plan, rationale, inputs = rule_plan(
            skills,
            request.goal,
            request.skill,
            request.inputs,
            bundled_model=bundled_model,
            web=web,
        )
        planner = "hybrid: rule" if request.planner == PlannerName.HYBRID else PlannerName.RULE
        what = f"skill {request.skill or 'chosen'!r}"
        skill = _chosen_skill(skills, request.goal, request.skill, web=web)[1].name
    checked_plan(plan, registry, request.roles, skills, what=what)
    result = planning_result(registry, plan, planner, rationale, Usage(), replannable=False)
    result.inputs = inputs
    result.skill = skill
    return result


def checked_plan(
    plan: Plan,
    registry: ToolRegistry,
    roles: list[str] | None,
    skills: SkillCatalog,
    *,
    what: str = "invalid plan",
) -> None:
    try:
        check_plan(plan, registry, roles, skills)
    except PlanError as e:
        raise ValidationFailed(f"{what}: {e}") from None


def planning_result(
    registry: ToolRegistry,
    plan: Plan,
    planner: str,
    rationale: str,
    usage: Usage,
    *,
    replannable: bool,
) -> PlanningResult:
    """A plan with what the workflow needs to know of the registry's tools to run it."""
    return PlanningResult(
        plan=plan,
        planner=planner,
        rationale=rationale,
        usage=usage,
        replannable=replannable,
        tools_requiring_approval=registry.requiring_approval(),
        side_effect_tools=registry.with_side_effects(),
        tool_retries=registry.retry_policies(),
    )


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


def fallback_plan(
    skills: SkillCatalog, goal: str, inputs: dict[str, Any], *, bundled_model: bool
) -> tuple[Plan, str, dict[str, Any], str]:
    """The plan hybrid planning falls back to when the model cannot write one: the skill whose
    description best matches the goal and whose inputs the request completes, else the default
    (retrieve -> report). Returns the plan, which skill and why, the completed inputs and the
    skill's name."""
    catalogue = [s for s in skills.all() if s.spec.fallback]
    described = [f"{s.name.replace('_', ' ')} {s.spec.description}" for s in catalogue]
    matching = [
        catalogue[i].name for i, score in context.rank_by_relevance(goal, described) if score
    ]
    for name in dict.fromkeys([*matching, DEFAULT_SKILL]):
        try:
            plan, _, completed = rule_plan(skills, goal, name, inputs, bundled_model=bundled_model)
        except ValidationFailed:
            continue  # this skill needs inputs the request does not give
        why = "best match for the goal" if name != DEFAULT_SKILL else "the default skill"
        return plan, f"skill {name!r} ({why})", completed, name
    plan, _, completed = rule_plan(skills, goal, DEFAULT_SKILL, {}, bundled_model=bundled_model)
    why = f"skill {DEFAULT_SKILL!r} (the default; the run's inputs fit no skill)"
    return plan, why, completed, DEFAULT_SKILL


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
            # ordinary goals in tests/test_bundled_model.py, two rounds each, ~10-40 s a goal on
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
