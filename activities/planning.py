"""Planning: turn a goal into a validated plan.

- `rule`: maps a goal onto a built-in plan template. Today there is one template,
  `research_report`: retrieve -> extract key points per source (in parallel) -> write the report
  with citations, optionally followed by publishing it (a side effect that waits for approval).
- `llm`: the model writes the plan as structured output (the DAG, `agent` steps allowed).
- `hybrid` (the default): the rule planner when a skill is named or the template matches the goal
  confidently, the LLM planner otherwise.
Every plan, including a client-supplied one, is checked against the tool registry and the step
schemas before anything runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity

from activities.common import classified, parse_args
from activities.llm.activities import LlmActivities
from activities.llm.base import LLMRequest
from activities.plan_checks import check_plan
from activities.tools.registry import ToolRegistry
from aios.config import BUNDLED_MODEL
from aios.errors import ValidationFailed, describe_field_errors
from aios.models import Message, PlanningInput, PlanningResult, Usage
from aios.plan import (
    STEP_ID_PATTERN,
    ApprovalPolicy,
    Plan,
    PlanError,
    RetrySpec,
    Step,
    check_planner,
)
from aios.vocabulary import Activity, PlannerName, StepKind

KEY_POINTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "key_points": {
            "type": "array",
            "items": {"type": "string", "maxLength": 300},
            "minItems": 1,
            "maxItems": 5,
        }
    },
    "required": ["key_points"],
    "additionalProperties": False,
}


class ResearchReportInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int = Field(default=8, ge=1, le=50, description="chunks to retrieve")
    max_sources: int = Field(default=4, ge=1, le=20, description="sources to read in parallel")
    publish: bool = Field(default=False, description="publish the report (asks for approval)")
    key_points: Literal["auto", "model", "quotes"] = Field(
        default="auto",
        description="evidence under each source: `model` = key points the model extracts "
        "(checked against verbatim quotes), `quotes` = the sentences that best support the "
        "question, verbatim; `auto` = quotes with the bundled model, key points otherwise",
    )
    approval_timeout_s: float = Field(default=86400.0, gt=0, le=30 * 86400)


def research_report_plan(goal: str, inputs: ResearchReportInputs) -> Plan:
    """The goal enters the plan only through `run.goal` references: it is data, never template
    syntax, whatever it contains.

    Every source comes with its best sentences, verbatim (`quotes`). With `key_points="model"`
    the model also extracts key points per source (in parallel), and the report flags any key
    point that no quote supports; with `"quotes"` the quotes are the evidence."""
    llm_retry = RetrySpec(max_attempts=4, initial_interval_s=2.0)
    model_notes = inputs.key_points != "quotes"
    extract = Step(
        id="extract",
        kind=StepKind.LLM,
        title="Extract key points",
        depends_on=["retrieve"],
        for_each="steps.retrieve.output.sources",
        args={
            "instruction": (
                "List up to five key points from the document above that help answer this "
                "question: {{run.goal}}"
            ),
            "documents": {"$ref": "item"},
            "output_schema": KEY_POINTS_SCHEMA,
            "bullets_from": "key_points",
            "max_tokens": 320,
            "temperature": 0.1,
        },
        timeout_s=300,
        retry=llm_retry,
    )
    steps = [
        Step(
            id="retrieve",
            kind=StepKind.RETRIEVE,
            title="Retrieve sources",
            args={
                "query": {"$ref": "run.goal"},
                "k": inputs.k,
                "max_sources": inputs.max_sources,
                "quotes": 3,
            },
            timeout_s=120,
        ),
        Step(
            id="report",
            kind=StepKind.LLM,
            title="Write the report",
            depends_on=["extract" if model_notes else "retrieve"],
            args={
                "instruction": (
                    "Answer in one short paragraph: {{run.goal}}\n"
                    "Use only the numbered documents and cite them like [1]. If there are no "
                    "documents, say that the knowledge base has nothing on this topic."
                ),
                "documents": {"$ref": "steps.retrieve.output.sources"},
                **({"evidence": {"$ref": "steps.extract.output"}} if model_notes else {}),
                "quotes": True,
                "cite": True,
                "model": "strong",
                "max_tokens": 400,
            },
            timeout_s=600,
            retry=llm_retry,
        ),
    ]
    if model_notes:
        steps.insert(1, extract)
    if inputs.publish:
        steps.append(
            Step(
                id="publish",
                kind=StepKind.TOOL,
                tool="publish_report",
                title="Publish the report",
                depends_on=["report"],
                args={"title": {"$ref": "run.goal"}, "body": {"$ref": "steps.report.output.text"}},
                # A reviewer's "no" (or silence) skips publishing and the run still delivers its
                # report; a publication that fails for technical reasons fails the run after the
                # side-effect retry budget, so it is never silently dropped.
                approval=ApprovalPolicy(
                    reason="publishing makes the report visible to readers",
                    timeout_s=inputs.approval_timeout_s,
                    on_timeout="reject",
                    on_reject="skip",
                ),
            )
        )
    return Plan(steps=steps, result_step="report")


TEMPLATES: dict[str, tuple[type[BaseModel], Callable[[str, Any], Plan]]] = {
    "research_report": (ResearchReportInputs, research_report_plan),
}


def rule_plan(
    goal: str, skill: str | None, inputs: dict[str, Any], *, bundled_model: bool = False
) -> tuple[Plan, str]:
    """The rule-based planner: the named template, else the one the goal matches.
    `bundled_model` says the fast model is the small offline one (see `ResearchReportInputs`)."""
    name = skill or "research_report"  # every free-form goal is a research question today
    if name not in TEMPLATES:
        raise ValidationFailed(f"unknown skill {name!r}; available: {', '.join(sorted(TEMPLATES))}")
    inputs_model, build = TEMPLATES[name]
    valid_keys = ", ".join(sorted(inputs_model.model_fields))
    parsed = parse_args(inputs_model, inputs, f"skill {name!r} inputs (valid keys: {valid_keys})")
    if isinstance(parsed, ResearchReportInputs) and parsed.key_points == "auto":
        parsed.key_points = "quotes" if bundled_model else "model"
    return build(goal, parsed), f"rule-based planner: template {name!r}"


# The rule planner's confidence: goals that ask a question or for research, a report, a summary
# or an explanation are what the research template answers well. Anything else (an errand: "send",
# "compute", "file a ticket") goes to the LLM planner under `hybrid`.
RESEARCH_TRIGGER = re.compile(
    r"^\s*(how|what|why|which|who|when|where|is|are|does|do|can|should|explain|describe|"
    r"summari[sz]e|compare|research|report|investigate|find out|tell me|give me an overview)\b"
    r"|\?\s*$",
    re.IGNORECASE,
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
                        "enum": ["tool", "llm", "retrieve", "agent", "memory"],
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
PLANNER_SYSTEM = """You plan work for AIOS.
Answer with a JSON plan: {"steps": [...], "result_step": id}.
Each step: {"id": lowercase-id, "kind": one of tool|llm|retrieve|agent|memory, "title", "tool"
(tool steps only), "args", "depends_on": [ids of earlier steps it needs]}.
- retrieve: search the knowledge base. args {"query": text, "k": number}.
- memory: the user's memory. args {"op": "read", "query": text} or {"op": "write", "text": text}.
- llm: one model call. args {"instruction": text, "documents": optional reference}.
- tool: call one tool. args must match the tool's input schema.
- agent: a model that calls tools in a loop. args {"instruction", "tools": [tool names],
  "max_turns": number}.
Refer to earlier outputs with {"$ref": "steps.<id>.output"} and to the goal with
{"$ref": "run.goal"}; a step that refers to another must list it in depends_on. Use as few steps
as the goal needs; the result step's output is the answer.
Tools:
"""


def choose_planner(planner: PlannerName, goal: str, skill: str | None) -> PlannerName:
    """Which planner makes this plan: `hybrid` picks the rule planner when a skill is named or a
    template matches the goal confidently, the LLM planner otherwise."""
    if planner != PlannerName.HYBRID:
        return planner
    if skill is not None or RESEARCH_TRIGGER.search(goal):
        return PlannerName.RULE
    return PlannerName.LLM


def check_run_request(
    registry: ToolRegistry,
    *,
    goal: str,
    planner: PlannerName,
    skill: str | None,
    inputs: dict[str, Any],
    plan: Plan | None,
    roles: list[str] | None = None,
) -> None:
    """Everything the planning activity will refuse, refused before a run starts (the API calls
    this): an unavailable planner, an unknown skill or input, a plan this deployment cannot run.
    Raises `ValidationFailed` naming the step or field."""
    if plan is not None:
        try:
            check_plan(plan, registry, roles)
        except PlanError as e:
            raise ValidationFailed(f"invalid plan: {e}") from None
        return
    try:
        check_planner(planner)
    except PlanError as e:
        raise ValidationFailed(str(e)) from None
    if choose_planner(planner, goal, skill) == PlannerName.RULE:
        rule_plan(goal, skill, inputs)


class PlanningActivities:
    def __init__(self, registry: ToolRegistry, llm: LlmActivities) -> None:
        self._registry = registry
        self._llm = llm

    @activity.defn(name=Activity.PLAN_RUN)
    @classified
    async def plan_run(self, request: PlanningInput) -> PlanningResult:
        usage = Usage()
        replannable = False
        if request.failed_step is not None:
            plan, rationale, usage = await self._llm_plan(request)
            return self._result(plan, "llm (revision)", rationale, usage, replannable=True)
        if request.plan is not None:
            plan, planner, rationale = request.plan, "client", "plan supplied by the client"
        else:
            try:
                check_planner(request.planner)
            except PlanError as e:
                raise ValidationFailed(str(e)) from None
            chosen = choose_planner(request.planner, request.goal, request.skill)
            if chosen == PlannerName.RULE:
                plan, rationale = rule_plan(
                    request.goal,
                    request.skill,
                    request.inputs,
                    bundled_model=self._llm.fast_model == BUNDLED_MODEL,
                )
            else:
                plan, rationale, usage = await self._llm_plan(request)
                replannable = True
            planner = f"hybrid: {chosen.value}" if request.planner == PlannerName.HYBRID else chosen
        try:
            check_plan(plan, self._registry, request.roles)
        except PlanError as e:
            raise ValidationFailed(f"invalid plan: {e}") from None
        return self._result(plan, planner, rationale, usage, replannable=replannable)

    def _result(
        self, plan: Plan, planner: str, rationale: str, usage: Usage, *, replannable: bool
    ) -> PlanningResult:
        return PlanningResult(
            plan=plan,
            planner=planner,
            rationale=rationale,
            usage=usage,
            replannable=replannable,
            tools_requiring_approval=self._registry.requiring_approval(),
            side_effect_tools=self._registry.with_side_effects(),
            tool_retries=self._registry.retry_policies(),
        )

    async def _llm_plan(self, request: PlanningInput) -> tuple[Plan, str, Usage]:
        """The model writes the plan as structured output; an invalid one gets one repair round
        with the errors, then the run fails with them."""
        tools = "\n".join(
            f"- {t.name}: {t.description} input schema: {json.dumps(t.input_schema)}"
            for t in self._registry.specs(request.roles)
        )
        ask = f"Goal: {request.goal}\nInputs: {json.dumps(request.inputs)}"
        if request.failed_step is not None:
            ask += (
                f"\nAn earlier plan failed at step {request.failed_step!r}: {request.failure}\n"
                f"Completed steps (refer to their outputs, do not reuse their ids): "
                f"{', '.join(request.completed) or 'none'}.\nPlan only the remaining work, "
                "another way."
            )
        messages = [
            Message(role="system", content=PLANNER_SYSTEM + (tools or "(none)")),
            Message(role="user", content=ask),
        ]
        caller = self._llm.caller(request.budget, max_attempts=0)
        problem = ""
        for round_ in (1, 2):
            outcome = await caller.call(
                "strong",
                LLMRequest(
                    model="",
                    messages=messages,
                    max_tokens=PLANNING_MAX_TOKENS,
                    temperature=0.0,
                    output_schema=PLAN_SCHEMA,
                    strict_schema=False,
                ),
            )
            try:
                plan = Plan.model_validate(outcome.data)
                check_plan(_with_completed(plan, request.completed), self._registry, request.roles)
                return plan, f"LLM planner ({outcome.spec}), round {round_}", caller.usage
            except (PlanError, pydantic.ValidationError) as e:
                problem = (
                    describe_field_errors(e.errors())
                    if isinstance(e, pydantic.ValidationError)
                    else str(e)
                )
            messages = [
                *messages,
                Message(role="assistant", content=outcome.response.text),
                Message(
                    role="user",
                    content=f"That plan cannot run: {problem}. Answer with a corrected plan.",
                ),
            ]
        raise ValidationFailed(f"the LLM planner's plan is invalid after one repair: {problem}")


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
