"""Plans: a DAG of typed steps, and the pure functions the DAG executor needs.

A step's arguments may reference earlier outputs and the run's own input:
- `{"$ref": "steps.<id>.output.<path>"}` is replaced by that value (any JSON);
- `"... {{steps.<id>.output.<path>}} ..."` inside a string is replaced by its text;
- in a `for_each` step, `item` (and `item.<path>`) names the element being processed;
- `run.goal` and `run.inputs.<path>` name what the run was started with.
Paths are dotted; list elements are addressed by number (`steps.r.output.sources.0.title`).

Substituted text is data: it is never parsed for references again, so a goal such as "How do I
print {{ user.name }} in Jinja?" reaches the model as written. Planners put user text into
arguments through `run.*` references, never by pasting it into a template.

Everything here is deterministic and free of I/O so workflows can use it, and the API can reject a
bad plan before a workflow is ever started.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aios.quality import DEFAULT_REVIEW_THRESHOLD, ReviewWhen
from aios.vocabulary import IMPLEMENTED_PLANNERS, Activity, PlannerName, StepKind

# The activity that runs each step kind: the workflow dispatches on this map.
STEP_ACTIVITY: dict[StepKind, Activity] = {
    StepKind.TOOL: Activity.INVOKE_TOOL,
    StepKind.LLM: Activity.LLM_COMPLETE,
    StepKind.RETRIEVE: Activity.RETRIEVE,
    StepKind.MEMORY: Activity.MEMORY,
}
# `approval`, `agent`, `skill` and `research` steps are run by the workflow itself (an agent
# step is a loop of AGENT_TURN and INVOKE_TOOL activities; a skill step is a child workflow; a
# research step is a loop of searches, page reads and notes).
EXECUTABLE_KINDS: frozenset[StepKind] = frozenset(
    {*STEP_ACTIVITY, StepKind.APPROVAL, StepKind.AGENT, StepKind.SKILL, StepKind.RESEARCH}
)

STEP_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_TEMPLATE = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
MAX_STEPS = 200


class PlanError(ValueError):
    """A plan that cannot run; the message says which step and why."""


class RetrySpec(BaseModel):
    max_attempts: int = Field(default=3, ge=1, le=100)
    initial_interval_s: float = Field(default=1.0, gt=0, le=3600)
    backoff: float = Field(default=2.0, ge=1.0, le=10.0)
    max_interval_s: float = Field(default=60.0, gt=0, le=86400)


ConditionOp = Literal["eq", "ne", "gt", "ge", "lt", "le", "truthy", "falsy", "contains", "nonempty"]


class Condition(BaseModel):
    """Run the step only if `ref op value` holds; otherwise the step (and what needs it) is
    skipped."""

    ref: str
    op: ConditionOp = "truthy"
    value: Any = None


# A step that names no retry policy gets one of these. Side-effecting tools get minutes, not
# seconds: a database restart or a provider outage outlasts three quick attempts, and their
# idempotency keys make every retry safe.
DEFAULT_RETRY = RetrySpec()
SIDE_EFFECT_RETRY = RetrySpec(max_attempts=12, initial_interval_s=1.0, max_interval_s=30.0)


# Who may answer an approval: a user id, or `role:<name>` for everyone with that role.
APPROVER_PATTERN = r"^(role:)?[A-Za-z0-9][A-Za-z0-9_.@:-]{0,199}$"


class Escalation(BaseModel):
    """One step of an approval's escalation chain: when the window before it passes unanswered,
    the approval goes to these approvers for `timeout_s` more."""

    approvers: list[str] = Field(min_length=1, max_length=50)
    timeout_s: float = Field(gt=0, le=30 * 86400)

    @field_validator("approvers")
    @classmethod
    def _approver_names(cls, value: list[str]) -> list[str]:
        return _approver_names(value)


def _approver_names(value: list[str]) -> list[str]:
    bad = [v for v in value if not re.match(APPROVER_PATTERN, v)]
    if bad:
        raise ValueError(f"not a user id or role:<name>: {', '.join(map(repr, bad))}")
    return value


class ApprovalPolicy(BaseModel):
    reason: str = Field(default="", max_length=2000)
    timeout_s: float = Field(default=86400.0, gt=0, le=30 * 86400)
    # On timeout: `reject` treats silence as a rejection (see on_reject); `fail` ends the whole
    # run as `timed_out`.
    on_timeout: Literal["reject", "fail"] = "fail"
    # On rejection: `fail` fails the step (the step's on_failure applies); `skip` skips it and
    # what depends on it, and the run goes on (a reviewer's "no" is an answer, not an error).
    on_reject: Literal["fail", "skip"] = "fail"
    # k of n: how many distinct people must approve (each answer still needs the approver role
    # and never comes from the run's requester); one rejection rejects.
    approvals_required: int = Field(default=1, ge=1, le=10)
    # Who may answer (user ids, `role:<name>`); empty: anyone with the approver role. Four eyes
    # holds either way: never the run's requester.
    approvers: list[str] = Field(default_factory=list, max_length=50)
    # When the timeout passes unanswered, the approval goes to each next group in turn, each for
    # its own window; after the last, `on_timeout` applies. Each step is in the run's trace.
    escalate: list[Escalation] = Field(default_factory=list, max_length=5)

    @field_validator("approvers")
    @classmethod
    def _approver_names(cls, value: list[str]) -> list[str]:
        return _approver_names(value)


class ReviewPolicy(BaseModel):
    """`review` on a run, a skill or a plan: when a person reviews the run's answer before the run
    returns it (workflows/run/review.py). `low_confidence`: when its confidence is below
    `threshold` (an answer that reports none is not reviewed); `always`; `never`. The reviewer
    approves, rejects (the run fails) or edits the answer; the same four-eyes rules as every
    approval (never the run's requester)."""

    model_config = ConfigDict(extra="forbid")

    when: ReviewWhen = "low_confidence"
    threshold: float = Field(default=DEFAULT_REVIEW_THRESHOLD, ge=0, le=1)
    # Who may review (user ids, `role:<name>`); empty: anyone with the approver role.
    approvers: list[str] = Field(default_factory=list, max_length=50)
    timeout_s: float = Field(default=86400.0, gt=0, le=30 * 86400)
    # Unanswered in time: `fail` ends the run as timed_out; `reject` counts as a rejection.
    on_timeout: Literal["reject", "fail"] = "fail"

    @field_validator("approvers")
    @classmethod
    def _approver_names(cls, value: list[str]) -> list[str]:
        return _approver_names(value)

    def approval(self, reason: str) -> ApprovalPolicy:
        """The approval the review waits at."""
        return ApprovalPolicy(
            reason=reason,
            timeout_s=self.timeout_s,
            on_timeout=self.on_timeout,
            on_reject="fail",
            approvers=list(self.approvers),
        )


class Step(BaseModel):
    id: str = Field(pattern=STEP_ID_PATTERN)
    kind: StepKind
    title: str = Field(default="", max_length=300)
    tool: str | None = Field(default=None, description="tool name, for kind=tool")
    args: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)
    for_each: str | None = Field(
        default=None, description="reference to a list; the step runs once per element, in parallel"
    )
    condition: Condition | None = None
    timeout_s: float = Field(default=300.0, gt=0, le=86400)
    # How soon a silent (crashed) worker is noticed and the step retried elsewhere.
    heartbeat_timeout_s: float | None = Field(default=None, gt=0, le=3600)
    # Unset: DEFAULT_RETRY, or SIDE_EFFECT_RETRY for a tool with side effects (`effective_retry`).
    retry: RetrySpec | None = None
    on_failure: Literal["fail", "continue"] = "fail"
    approval: ApprovalPolicy | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> Step:
        if self.kind == StepKind.TOOL and not self.tool:
            raise ValueError(f"step {self.id!r} is a tool step but names no tool")
        if self.kind != StepKind.TOOL and self.tool:
            raise ValueError(f"step {self.id!r} names a tool but is of kind {self.kind!r}")
        if not self.title:
            self.title = self.tool or self.id
        return self


class Plan(BaseModel):
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    # The step whose output is the run's result; defaults to the last step.
    result_step: str | None = None
    # A person reviews the result before the run returns it (a skill's `review:`); a run's own
    # `review` overrides it.
    review: ReviewPolicy | None = None

    @field_validator("steps")
    @classmethod
    def _unique_ids(cls, steps: list[Step]) -> list[Step]:
        seen: set[str] = set()
        for step in steps:
            if step.id in seen:
                raise ValueError(f"step id {step.id!r} is used twice")
            seen.add(step.id)
        return steps

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    @property
    def result_step_id(self) -> str:
        return self.result_step or self.steps[-1].id


def effective_retry(
    step: Step, *, side_effects: bool, tool_default: RetrySpec | None = None
) -> RetrySpec:
    """The step's own retry policy, else its tool's, else the default for what it does."""
    if step.retry is not None:
        return step.retry
    if tool_default is not None:
        return tool_default
    return SIDE_EFFECT_RETRY if side_effects else DEFAULT_RETRY


# --- references ---------------------------------------------------------------------------


# The heads of references that do not name a step.
ITEM = "item"
RUN = "run"
RUN_FIELDS = frozenset({"goal", "inputs"})


def parse_ref(ref: str) -> tuple[str, list[str]]:
    """`steps.a.output.x.0` -> ("a", ["x", "0"]); `item.x` -> ("item", ["x"]);
    `run.inputs.k` -> ("run", ["inputs", "k"])."""
    parts = [p for p in ref.strip().split(".") if p != ""]
    if parts and parts[0] == ITEM:
        return ITEM, parts[1:]
    if parts and parts[0] == RUN:
        if len(parts) < 2 or parts[1] not in RUN_FIELDS:
            raise PlanError(f"reference {ref!r} must be run.goal or run.inputs[.path]")
        return RUN, parts[1:]
    if len(parts) < 3 or parts[0] != "steps" or parts[2] != "output":
        raise PlanError(
            f"reference {ref!r} must look like steps.<id>.output[.path], item[.path], run.goal "
            "or run.inputs[.path]"
        )
    return parts[1], parts[3:]


def iter_refs(value: Any) -> list[str]:
    """Every reference inside a JSON value (`$ref` objects and `{{...}}` templates)."""
    found: list[str] = []
    if isinstance(value, dict):
        if set(value) == {"$ref"} and isinstance(value["$ref"], str):
            return [value["$ref"]]
        for v in value.values():
            found.extend(iter_refs(v))
    elif isinstance(value, list):
        for v in value:
            found.extend(iter_refs(v))
    elif isinstance(value, str):
        found.extend(m.group(1) for m in _TEMPLATE.finditer(value))
    return found


def step_refs(step: Step) -> list[str]:
    refs = iter_refs(step.args)
    if step.for_each:
        refs.append(step.for_each)
    if step.condition:
        refs.append(step.condition.ref)
    return refs


def lookup(value: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(value, dict):
            if part not in value:
                raise PlanError(f"no field {part!r} (have: {', '.join(sorted(value)) or 'none'})")
            value = value[part]
        elif isinstance(value, list):
            if not part.lstrip("-").isdigit():
                raise PlanError(f"{part!r} is not a list index")
            index = int(part)
            if not -len(value) <= index < len(value):
                raise PlanError(f"index {index} is out of range for a list of {len(value)}")
            value = value[index]
        else:
            raise PlanError(f"cannot take {part!r} of a {type(value).__name__}")
    return value


def resolve_ref(
    ref: str, outputs: dict[str, Any], item: Any = None, run: dict[str, Any] | None = None
) -> Any:
    head, path = parse_ref(ref)
    if head == ITEM:
        return lookup(item, path)
    if head == RUN:
        try:
            return lookup(run or {}, path)
        except PlanError as e:
            raise PlanError(f"reference {ref!r}: {e}") from None
    if head not in outputs:
        raise PlanError(f"reference {ref!r}: step {head!r} has no output")
    try:
        return lookup(outputs[head], path)
    except PlanError as e:
        raise PlanError(f"reference {ref!r}: {e}") from None


def resolve_args(
    value: Any, outputs: dict[str, Any], item: Any = None, run: dict[str, Any] | None = None
) -> Any:
    """A copy of `value` with every reference replaced by what it points at. Substituted text is
    not scanned again (`re.sub` works on the original string), so it stays data."""
    if isinstance(value, dict):
        if set(value) == {"$ref"} and isinstance(value["$ref"], str):
            return resolve_ref(value["$ref"], outputs, item, run)
        return {k: resolve_args(v, outputs, item, run) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_args(v, outputs, item, run) for v in value]
    if isinstance(value, str) and "{{" in value:

        def _text(match: re.Match[str]) -> str:
            found = resolve_ref(match.group(1), outputs, item, run)
            return found if isinstance(found, str) else json.dumps(found, sort_keys=True)

        return _TEMPLATE.sub(_text, value)
    return value


def evaluate_condition(
    condition: Condition, outputs: dict[str, Any], run: dict[str, Any] | None = None
) -> bool:
    actual = resolve_ref(condition.ref, outputs, run=run)
    expected = condition.value
    match condition.op:
        case "truthy":
            return bool(actual)
        case "falsy":
            return not actual
        case "nonempty":
            return isinstance(actual, list | dict | str) and len(actual) > 0
        case "eq":
            return bool(actual == expected)
        case "ne":
            return bool(actual != expected)
        case "contains":
            return isinstance(actual, list | str | dict) and expected in actual
    try:
        if condition.op == "gt":
            return bool(actual > expected)
        if condition.op == "ge":
            return bool(actual >= expected)
        if condition.op == "lt":
            return bool(actual < expected)
        return bool(actual <= expected)
    except TypeError:
        raise PlanError(
            f"condition {condition.ref} {condition.op} {expected!r}: cannot compare "
            f"{type(actual).__name__} with {type(expected).__name__}"
        ) from None


def args_hash(args: Any) -> str:
    """A stable hash of resolved arguments; approvals name it so a stale approval cannot pass."""
    canonical = json.dumps(args, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- validation ---------------------------------------------------------------------------


def ancestors(plan: Plan) -> dict[str, set[str]]:
    """For every step, all steps it (transitively) depends on. Raises on unknown ids and cycles."""
    by_id = {s.id: s for s in plan.steps}
    for step in plan.steps:
        for dep in step.depends_on:
            if dep not in by_id:
                raise PlanError(f"step {step.id!r} depends on unknown step {dep!r}")
            if dep == step.id:
                raise PlanError(f"step {step.id!r} depends on itself")
    result: dict[str, set[str]] = {}
    visiting: set[str] = set()

    def visit(step_id: str) -> set[str]:
        if step_id in result:
            return result[step_id]
        if step_id in visiting:
            raise PlanError(f"the plan has a dependency cycle through step {step_id!r}")
        visiting.add(step_id)
        found: set[str] = set()
        for dep in by_id[step_id].depends_on:
            found.add(dep)
            found |= visit(dep)
        visiting.discard(step_id)
        result[step_id] = found
        return found

    for step in plan.steps:
        visit(step.id)
    return result


def check_planner(planner: PlannerName) -> None:
    """Refuse a planner this build does not implement, naming those it does."""
    if planner not in IMPLEMENTED_PLANNERS:
        available = ", ".join(sorted(IMPLEMENTED_PLANNERS))
        raise PlanError(
            f"the {planner.value!r} planner is not available in this deployment yet; "
            f"use planner={available} or send a plan"
        )


def validate_plan(plan: Plan, *, known_tools: set[str] | None = None) -> None:
    """Everything that can be checked before running: ids, cycles, references, kinds, tools."""
    ancestry = ancestors(plan)
    ids = set(ancestry)
    if plan.result_step is not None and plan.result_step not in ids:
        raise PlanError(f"result_step {plan.result_step!r} is not a step of the plan")
    for step in plan.steps:
        if step.kind not in EXECUTABLE_KINDS:
            raise PlanError(
                f"step {step.id!r}: steps of kind {step.kind.value!r} are not supported by this "
                f"deployment yet (supported: {', '.join(sorted(EXECUTABLE_KINDS))})"
            )
        if known_tools is not None and step.tool is not None and step.tool not in known_tools:
            raise PlanError(f"step {step.id!r} uses unknown tool {step.tool!r}")
        for ref in step_refs(step):
            head, _ = parse_ref(ref)
            if head == RUN:
                continue
            if head == ITEM:
                if step.for_each is None or ref == step.for_each:
                    raise PlanError(
                        f"step {step.id!r}: reference {ref!r} uses `item` outside a for_each step"
                    )
                continue
            if head not in ids:
                raise PlanError(f"step {step.id!r} references unknown step {head!r} in {ref!r}")
            if head not in ancestry[step.id]:
                raise PlanError(
                    f"step {step.id!r} references step {head!r} but does not depend on it; "
                    f"add {head!r} to depends_on"
                )
