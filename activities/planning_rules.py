"""Planning without a model: the rule planner (a skill, named or matched by its triggers), the
choice `hybrid` makes between it and the LLM planner, the fallback skill when the model cannot
plan, and the checks every plan passes before it runs. The API calls `check_run_request` before it
starts a run (a run whose plan needs no model starts with it); the planning activity
(activities/planning.py) calls the rest.
"""

from __future__ import annotations

from typing import Any

from activities import context
from activities.plan_checks import check_plan
from activities.tools.registry import ToolRegistry
from aios.errors import (
    NotFound,
    ValidationFailed,
)
from aios.models import PlanningInput, PlanningResult, Usage
from aios.plan import (
    Plan,
    PlanError,
    check_planner,
)
from aios.skills import Skill, SkillCatalog
from aios.vocabulary import PlannerName

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
