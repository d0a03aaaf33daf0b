"""Skills: named, versioned workflows written in YAML (`skills/*.yaml`).

A skill has a description, an input schema, triggers (regular expressions the rule planner
matches against a goal) and a DAG of steps in the plan language. A step may carry `when:
{input: value, ...}`: it is part of the plan only when the inputs have those values (variants of a
step share an id; at most one of them is kept). Steps refer to the run's inputs as
`run.inputs.<name>`; the planner runs a skill with its inputs completed by their defaults.

    name: answer_with_citations
    version: 1
    description: Answer a question from the knowledge base, citing the sources.
    triggers: ['^\\s*(what|how|why)\\b']
    goal_from: question
    inputs:
      type: object
      properties:
        question: {type: string, description: The question}
        k: {type: integer, default: 6, minimum: 1, maximum: 50}
    steps:
      - id: find
        kind: retrieve
        args: {query: {$ref: run.goal}, k: {$ref: run.inputs.k}}
      ...

Loading checks the schema and every variant of the DAG (`validate`); the tool registry is
checked by the caller (`activities.plan_checks.check_plan`), which knows the tools.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aios.errors import ConfigurationError, NotFound, ValidationFailed, describe_field_errors
from aios.plan import Plan, PlanError, ReviewPolicy, validate_plan
from aios.schemas import model_from_schema, read_yaml_file
from aios.versions import MODEL_PIN, PROMPTS

SKILL_NAME = r"^[a-z][a-z0-9_]{0,63}$"


class SkillSpec(BaseModel):
    """A skill as written in its file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=SKILL_NAME)
    version: int = Field(default=1, ge=1)
    description: str = Field(min_length=1)
    triggers: list[str] = Field(default_factory=list)
    # Triggers that count only for a tenant with a web search provider: a goal that needs outside
    # sources (recent trends, news) goes to this skill where the web can be read, and to the
    # planner (the knowledge base) where it cannot.
    web_triggers: list[str] = Field(default_factory=list)
    # The input that becomes the run's goal when a skill is started without one.
    goal_from: str | None = None
    # When several skills' triggers match a goal, the highest priority wins (then the name).
    priority: int = 0
    # Whether hybrid planning may fall back to this skill when the goal's words best match its
    # description (activities/planning.py fallback_plan). A skill whose runs take many model calls
    # (deep research: rounds of questions, pages read) sets it false: a goal reaches it by its
    # triggers or by name, never because the model could not plan ("a short report" is not a
    # request for minutes of research).
    fallback: bool = True
    inputs: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    result_step: str | None = None
    # A person reviews the skill's answer when its confidence is low (or always): aios/plan.py.
    review: ReviewPolicy | None = None
    # The prompt versions (a label or hash prefix) and model the skill's runs use where the run
    # pins none of its own (aios/versions.py); the default is the latest.
    versions: dict[str, str] | None = None
    steps: list[dict[str, Any]] = Field(min_length=1)

    @field_validator("versions")
    @classmethod
    def _pinnable(cls, pins: dict[str, str] | None) -> dict[str, str] | None:
        allowed = (*PROMPTS, MODEL_PIN)
        unknown = sorted(set(pins or {}) - set(allowed))
        if unknown:
            raise ValueError(
                f"versions: a skill cannot pin {', '.join(unknown)}; it may pin "
                f"{', '.join(allowed)}"
            )
        return pins

    @field_validator("triggers", "web_triggers")
    @classmethod
    def _compiles(cls, triggers: list[str]) -> list[str]:
        for trigger in triggers:
            try:
                re.compile(trigger)
            except re.error as e:
                raise ValueError(f"trigger {trigger!r} is not a regular expression: {e}") from e
        return triggers


class SkillInfo(BaseModel):
    """A skill as `GET /v1/skills` lists it."""

    name: str
    version: int
    description: str
    input_schema: dict[str, Any]
    triggers: list[str]
    # Triggers that count only for a tenant with a web search provider.
    web_triggers: list[str] = Field(default_factory=list)


class Skill:
    def __init__(self, spec: SkillSpec, source: Path | None = None) -> None:
        self.spec = spec
        self.source = source
        self.inputs_model = model_from_schema(spec.name, spec.inputs)
        self._triggers = [re.compile(t, re.IGNORECASE) for t in spec.triggers]
        self._web_triggers = [re.compile(t, re.IGNORECASE) for t in spec.web_triggers]

    @property
    def name(self) -> str:
        return self.spec.name

    def info(self) -> SkillInfo:
        return SkillInfo(
            name=self.name,
            version=self.spec.version,
            description=self.spec.description,
            input_schema=self.inputs_model.model_json_schema(),
            triggers=self.spec.triggers,
            web_triggers=self.spec.web_triggers,
        )

    def matches(self, goal: str, *, web: bool = False) -> bool:
        return self.why_matched(goal, web=web) is not None

    def why_matched(self, goal: str, *, web: bool = False) -> str | None:
        """Why this skill's triggers choose it for `goal` (said in the plan's rationale), or
        None. `web`: the tenant has a web search provider, so `web_triggers` count too."""
        for trigger in self._triggers:
            if found := trigger.search(goal):
                return f"its trigger matched {found.group(0).strip()[:60]!r}"
        for trigger in self._web_triggers if web else []:
            if found := trigger.search(goal):
                return (
                    f"the goal needs outside sources ({found.group(0).strip()[:60]!r}) and the "
                    "tenant has a web search provider"
                )
        return None

    def complete_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The inputs checked against the schema, with defaults filled in."""
        try:
            parsed = self.inputs_model.model_validate(inputs)
        except ValidationError as e:
            keys = ", ".join(sorted(self.inputs_model.model_fields)) or "none"
            raise ValidationFailed(
                f"skill {self.name!r} inputs (valid keys: {keys}): "
                f"{describe_field_errors(e.errors())}"
            ) from None
        return parsed.model_dump(mode="json")

    def goal_for(self, inputs: dict[str, Any]) -> str:
        value = inputs.get(self.spec.goal_from) if self.spec.goal_from else None
        return str(value) if value else f"{self.name} ({self.spec.description})"

    def plan(self, inputs: dict[str, Any]) -> Plan:
        """The plan for these (completed) inputs: steps whose `when` does not hold are left out,
        and `{$ref: run.inputs.<name>}` outside a step's `args` (an approval's `timeout_s`, a
        step's `timeout_s`) is replaced by the input's value now. References in `args` stay:
        the run resolves them as it goes, with the other steps' outputs."""
        steps = []
        for raw in self.spec.steps:
            when = raw.get("when") or {}
            if all(inputs.get(key) == value for key, value in when.items()):
                steps.append(
                    {
                        k: v if k == "args" else _settled(v, inputs)
                        for k, v in raw.items()
                        if k != "when"
                    }
                )
        return Plan.model_validate(
            {"steps": steps, "result_step": self.spec.result_step, "review": self.spec.review}
        )

    def inputs_used(self) -> set[str]:
        """The inputs something in the skill reads: `when` clauses, `run.inputs.*` references
        anywhere, and the input that becomes the goal. A declared input outside this set would be
        accepted and then ignored."""
        used = {self.spec.goal_from} if self.spec.goal_from else set()
        for raw in self.spec.steps:
            used |= set(raw.get("when") or {})
            used |= _input_refs(raw)
        return used

    def variants(self) -> list[dict[str, Any]]:
        """One set of inputs per combination of the values the steps' `when` clauses test."""
        tested: dict[str, set[Any]] = {}
        for raw in self.spec.steps:
            for key, value in (raw.get("when") or {}).items():
                tested.setdefault(key, set()).add(_hashable(value))
        keys = sorted(tested)
        base = {name: field.default for name, field in self.inputs_model.model_fields.items()}
        return [
            {**base, **dict(zip(keys, combo, strict=True))}
            for combo in itertools.product(*(sorted(tested[k], key=repr) for k in keys))
        ] or [base]

    def validate(self) -> None:
        """Every variant is a valid plan (ids, references, cycles); raises PlanError."""
        known = set(self.inputs_model.model_fields)
        for raw in self.spec.steps:
            unknown = set(raw.get("when") or {}) - known
            if unknown:
                raise PlanError(
                    f"step {raw.get('id')!r}: `when` names inputs the skill does not have: "
                    f"{', '.join(sorted(unknown))}"
                )
        for inputs in self.variants():
            try:
                plan = self.plan(inputs)
            except ValidationError as e:
                raise PlanError(
                    f"with inputs {inputs}: {describe_field_errors(e.errors())}"
                ) from None
            validate_plan(plan)


_INPUT_REF = "run.inputs."


def _input_ref(value: Any) -> str | None:
    """The input a `{$ref: run.inputs.<name>}` names, else None."""
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("$ref"), str):
        ref: str = value["$ref"]
        if ref.startswith(_INPUT_REF):
            return ref.removeprefix(_INPUT_REF)
    return None


def _settled(value: Any, inputs: dict[str, Any]) -> Any:
    """`value` with every input reference replaced by the input's value."""
    name = _input_ref(value)
    if name is not None:
        return inputs.get(name)
    if isinstance(value, dict):
        return {k: _settled(v, inputs) for k, v in value.items()}
    if isinstance(value, list):
        return [_settled(v, inputs) for v in value]
    return value


def _input_refs(value: Any) -> set[str]:
    name = _input_ref(value)
    if name is not None:
        return {name.split(".", 1)[0]}
    if isinstance(value, dict):
        return set().union(*(_input_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_input_refs(v) for v in value))
    return set()


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | None) else repr(value)


class SkillCatalog:
    def __init__(self, skills: list[Skill]) -> None:
        self._skills = {s.name: s for s in skills}

    @classmethod
    def load(cls, directory: Path) -> SkillCatalog:
        """Every `*.yaml` in `directory`; a bad file is refused with the file (and step) named."""
        skills: list[Skill] = []
        for path in sorted(directory.glob("*.yaml")):
            skill = load_skill(path)
            if any(s.name == skill.name for s in skills):
                raise ConfigurationError(
                    f"skill file {path}: the skill {skill.name!r} exists twice"
                )
            skills.append(skill)
        return cls(skills)

    def get(self, name: str) -> Skill:
        try:
            return self._skills[name]
        except KeyError:
            raise NotFound(
                f"unknown skill {name!r}; available: {', '.join(sorted(self._skills)) or 'none'}"
            ) from None

    def all(self) -> list[Skill]:
        return [self._skills[n] for n in sorted(self._skills)]

    def for_goal(self, goal: str, *, web: bool = False) -> Skill | None:
        """The skill whose triggers match the goal (highest priority first, then by name);
        `web`: the tenant has a web search provider (`web_triggers` count too)."""
        ranked = sorted(self.all(), key=lambda s: (-s.spec.priority, s.name))
        return next((s for s in ranked if s.matches(goal, web=web)), None)


def load_skill(path: Path) -> Skill:
    document = read_yaml_file(path, "skill file")
    try:
        skill = Skill(SkillSpec.model_validate(document), source=path)
    except ValidationError as e:
        raise ConfigurationError(
            f"skill file {path}: {describe_field_errors(e.errors())}"
        ) from None
    except ValueError as e:
        raise ConfigurationError(f"skill file {path}: inputs: {e}") from None
    try:
        skill.validate()
    except PlanError as e:
        raise ConfigurationError(f"skill file {path}: {e}") from None
    return skill
