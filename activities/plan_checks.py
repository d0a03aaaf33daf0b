"""Checks of a plan against what this deployment can run: its tools exist and every argument
that is already known (not a reference to an earlier output) fits the schema of the step it goes
to. The planning activity runs them before a run executes anything, and the API runs the same
checks so that a bad plan is a 422 at once instead of a failed run later."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic

from activities.llm.activities import LlmStepArgs
from activities.memory import MemoryStepArgs
from activities.rag import RetrieveArgs
from activities.tools.registry import ToolRegistry
from aios.errors import ConfigurationError, ValidationFailed, describe_field_errors
from aios.models import AgentStepArgs, SkillStepArgs
from aios.plan import Plan, PlanError, Step, iter_refs, validate_plan
from aios.research import ResearchStepArgs
from aios.skills import SkillCatalog
from aios.vocabulary import StepKind

# The arguments model of each step kind an activity runs; tool steps use their tool's model.
STEP_ARGS: dict[StepKind, type[pydantic.BaseModel]] = {
    StepKind.LLM: LlmStepArgs,
    StepKind.RETRIEVE: RetrieveArgs,
    StepKind.MEMORY: MemoryStepArgs,
    StepKind.AGENT: AgentStepArgs,
    StepKind.SKILL: SkillStepArgs,
    StepKind.RESEARCH: ResearchStepArgs,
}


def check_plan(
    plan: Plan,
    registry: ToolRegistry,
    roles: list[str] | None = None,
    skills: SkillCatalog | None = None,
) -> None:
    """Raise `PlanError` naming the step and field of the first problem found. With `roles`,
    a tool those roles may not use is refused too; with `skills`, a skill step must name a skill
    and give it inputs it accepts (those written in the plan)."""
    validate_plan(plan, known_tools=registry.names())
    for step in plan.steps:
        if skills is not None and step.kind == StepKind.SKILL:
            _check_skill_step(step, skills)
        if roles is not None:
            _check_permitted(step, registry, roles)
        model = _args_model(step, registry)
        if model is not None:
            _check_known_args(step, model)
        if step.kind == StepKind.AGENT:
            tools = step.args.get("tools")
            unknown = (
                [t for t in tools if t not in registry.names()] if isinstance(tools, list) else []
            )
            if unknown:
                raise PlanError(
                    f"step {step.id!r}: the agent is given unknown tools {unknown}; known tools: "
                    f"{', '.join(sorted(registry.names()))}"
                )


def _check_skill_step(step: Step, skills: SkillCatalog) -> None:
    name = step.args.get("name")
    if not isinstance(name, str) or name not in {s.name for s in skills.all()}:
        known = ", ".join(s.name for s in skills.all())
        raise PlanError(f"step {step.id!r}: unknown skill {name!r}; available: {known}")
    inputs = step.args.get("inputs") or {}
    if isinstance(inputs, dict) and not iter_refs(inputs):
        try:
            skills.get(name).complete_inputs(inputs)
        except ValidationFailed as e:
            raise PlanError(f"step {step.id!r}: {e.message}") from None


def _check_permitted(step: Step, registry: ToolRegistry, roles: list[str]) -> None:
    named = [step.tool] if step.tool else []
    if step.kind == StepKind.AGENT and isinstance(step.args.get("tools"), list):
        named += [t for t in step.args["tools"] if isinstance(t, str) and t in registry.names()]
    for name in named:
        tool = registry.get(name)
        if not tool.allows(roles):
            raise PlanError(
                f"step {step.id!r}: the tool {name!r} needs one of the roles "
                f"{', '.join(sorted(tool.roles))}; the caller has {', '.join(roles) or 'none'}"
            )


def _args_model(step: Step, registry: ToolRegistry) -> type[pydantic.BaseModel] | None:
    if step.kind == StepKind.TOOL and step.tool is not None:
        return registry.get(step.tool).args_model
    return STEP_ARGS.get(step.kind)


def _check_known_args(step: Step, model: type[pydantic.BaseModel]) -> None:
    """Validate the arguments whose values are written in the plan; a field given by reference
    is only known when the step runs, so errors about it (including "missing") are left out."""
    referenced = {name for name, value in step.args.items() if iter_refs(value)}
    try:
        model.model_validate(step.args)
    except pydantic.ValidationError as e:
        problems = [err for err in e.errors() if not _about(err, referenced)]
        if problems:
            where = f"tool {step.tool!r}" if step.tool else f"a {step.kind.value} step"
            raise PlanError(
                f"step {step.id!r}: invalid arguments for {where}: "
                f"{describe_field_errors(problems)}"
            ) from None


def _about(error: Any, referenced: set[str]) -> bool:
    loc: tuple[Any, ...] = tuple(error.get("loc") or ())
    return len(loc) > 0 and str(loc[0]) in referenced


def check_skills(skills: SkillCatalog, registry: ToolRegistry) -> None:
    """Every variant of every skill against this deployment's tools and step schemas; a skill
    that cannot run here is refused at start-up with its file and step named."""
    for skill in skills.all():
        for inputs in skill.variants():
            try:
                check_plan(skill.plan(inputs), registry, skills=skills)
            except PlanError as e:
                raise ConfigurationError(f"skill file {skill.source}: {e}") from None


def load_skills(directory: Path, registry: ToolRegistry) -> SkillCatalog:
    skills = SkillCatalog.load(directory)
    check_skills(skills, registry)
    return skills
