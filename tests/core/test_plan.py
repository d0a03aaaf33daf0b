"""The plan language: validation catches bad plans before they run; references and conditions."""

from __future__ import annotations

import pytest

from aios.plan import (
    Condition,
    Plan,
    PlanError,
    args_hash,
    evaluate_condition,
    resolve_args,
    validate_plan,
)


def plan(*steps: dict[str, object]) -> Plan:
    return Plan.model_validate({"steps": list(steps)})


def echo(step_id: str, **extra: object) -> dict[str, object]:
    return {"id": step_id, "kind": "tool", "tool": "echo", **extra}


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([echo("a", depends_on=["ghost"])], "depends on unknown step 'ghost'"),
        ([echo("a", depends_on=["b"]), echo("b", depends_on=["a"])], "cycle"),
        ([echo("a"), echo("b", args={"x": {"$ref": "steps.a.output"}})], "does not depend on it"),
        ([echo("a", args={"x": "{{steps.zz.output}}"})], "unknown step 'zz'"),
        ([echo("a", args={"x": {"$ref": "item"}})], "outside a for_each"),
        ([echo("a", args={"x": {"$ref": "steps.a"}})], "must look like"),
    ],
)
def test_invalid_plans_are_rejected_with_the_reason(
    steps: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(PlanError, match=message):
        validate_plan(plan(*steps))


def test_unknown_tools_are_rejected_when_the_registry_is_known() -> None:
    with pytest.raises(PlanError, match="unknown tool 'nope'"):
        validate_plan(plan({"id": "a", "kind": "tool", "tool": "nope"}), known_tools={"echo"})


def test_structural_errors_are_caught_by_the_model() -> None:
    with pytest.raises(ValueError, match="used twice"):
        plan(echo("a"), echo("a"))
    with pytest.raises(ValueError, match="names no tool"):
        plan({"id": "a", "kind": "tool"})
    with pytest.raises(ValueError):
        plan({"id": "Bad Id", "kind": "llm"})


def test_transitive_dependencies_may_be_referenced() -> None:
    validate_plan(
        plan(
            echo("a"),
            echo("b", depends_on=["a"]),
            echo("c", depends_on=["b"], args={"x": {"$ref": "steps.a.output.v"}}),
        )
    )


def test_references_resolve_to_values_and_text() -> None:
    outputs = {"a": {"items": [{"t": "first"}, {"t": "second"}], "n": 2}}
    args = {
        "whole": {"$ref": "steps.a.output.items"},
        "one": {"$ref": "steps.a.output.items.1.t"},
        "text": "got {{steps.a.output.n}} items, first {{ steps.a.output.items.0.t }}",
        "each": {"$ref": "item.name"},
    }
    resolved = resolve_args(args, outputs, item={"name": "x"})
    assert resolved == {
        "whole": [{"t": "first"}, {"t": "second"}],
        "one": "second",
        "text": "got 2 items, first first",
        "each": "x",
    }
    with pytest.raises(PlanError, match="out of range"):
        resolve_args({"$ref": "steps.a.output.items.5"}, outputs)


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [("gt", 1, True), ("lt", 1, False), ("eq", 2, True), ("ne", 2, False), ("truthy", None, True)],
)
def test_conditions(op: str, value: object, expected: bool) -> None:
    condition = Condition.model_validate({"ref": "steps.a.output.n", "op": op, "value": value})
    assert evaluate_condition(condition, {"a": {"n": 2}}) is expected


def test_a_condition_comparing_unlike_types_is_an_error() -> None:
    condition = Condition(ref="steps.a.output.n", op="gt", value="x")
    with pytest.raises(PlanError, match="cannot compare"):
        evaluate_condition(condition, {"a": {"n": 2}})


def test_args_hash_is_stable_and_sensitive() -> None:
    assert args_hash({"a": 1, "b": [1, 2]}) == args_hash({"b": [1, 2], "a": 1})
    assert args_hash({"a": 1}) != args_hash({"a": 2})
