"""The OpenAPI document shows a working example of every request body and every answer, and
each example fits the schema next to it (a renamed field fails here, not in a reader's client)."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from aios.config import Settings
from api.app import create_app

SPEC = create_app(Settings()).openapi()
OPERATIONS = {
    f"{method.upper()} {path}": operation
    for path, methods in SPEC["paths"].items()
    for method, operation in methods.items()
}


def _example(content: dict[str, Any], spec: dict[str, Any]) -> Any:
    if "example" in content:
        return content["example"]
    if content.get("examples"):
        return next(iter(content["examples"].values()))["value"]
    schema = content.get("schema", {})
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    examples = schema.get("examples") or ([schema["example"]] if "example" in schema else [])
    return examples[0] if examples else None


def _check(where: str, content: dict[str, Any], spec: dict[str, Any]) -> None:
    value = _example(content, spec)
    assert value is not None, f"{where}: no example"
    schema = {**content.get("schema", {}), "components": spec["components"]}
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(value)]
    assert not errors, f"{where}: the example does not fit the schema: {errors}"


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_answer_and_body_has_an_example_that_fits(name: str) -> None:
    operation, spec = OPERATIONS[name], SPEC
    for status, response in operation.get("responses", {}).items():
        for media, content in response.get("content", {}).items():
            if status.startswith("2") and media == "application/json":
                _check(f"{name} {status}", content, spec)
            elif status.startswith("2"):  # streams and text: an example of what arrives
                assert "example" in content, f"{name} {status} {media}: no example"
    for media, content in operation.get("requestBody", {}).get("content", {}).items():
        _check(f"{name} request ({media})", content, spec)
