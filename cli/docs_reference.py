"""The generated references: `docs/reference/api.md` from the API's OpenAPI document and
`docs/reference/configuration.md` from the settings class. Neither is edited by hand.

    make docs                                   # rewrite both
    .venv/bin/python -m cli.docs_reference      # the same
    .venv/bin/python -m cli.docs_reference --check   # exit 1 naming what drifted

Either way it exits 1 naming any setting declared without a description.
The API reference is built here; the configuration reference in cli/config_reference.py.

`tests/cli/test_docs_reference.py` regenerates both in memory and fails when a file drifts from the
code. Building the OpenAPI document needs no running service (the app's resources are opened in
its lifespan, which is not entered here).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cli.config_reference import (
    CONFIGURATION_REFERENCE,
    configuration_reference,
    undocumented_settings,
)
from cli.reference_markdown import COMMAND, GENERATED, REPO, anchor, table

API_REFERENCE = REPO / "docs" / "reference" / "api.md"


# ---------------------------------------------------------------------------------------------
# The API reference


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, built as the app serves it at /openapi.json."""
    from aios.config import Settings
    from api.app import create_app

    return create_app(Settings()).openapi()


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[1]


def _schema_link(name: str) -> str:
    return f"[`{name}`](#{anchor(name)})"


def _constraints(schema: dict[str, Any]) -> str:
    marks = {
        "minLength": "≥ {} chars",
        "maxLength": "≤ {} chars",
        "minimum": "≥ {}",
        "maximum": "≤ {}",
        "exclusiveMinimum": "> {}",
        "exclusiveMaximum": "< {}",
        "minItems": "≥ {} items",
        "maxItems": "≤ {} items",
    }
    found = []
    for key, mark in marks.items():
        if key in schema:
            value = schema[key]
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            found.append(mark.format(value))
    return f" ({', '.join(found)})" if found else ""


def _schema_type(schema: dict[str, Any]) -> str:
    """A short, linked rendering of a JSON schema: `string (≤ 200 chars) or null`."""
    if "$ref" in schema:
        return _schema_link(_ref_name(schema["$ref"]))
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            return " or ".join(_schema_type(s) for s in schema[combinator])
    if "allOf" in schema:
        return " and ".join(_schema_type(s) for s in schema["allOf"])
    if "enum" in schema:
        return " or ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(_schema_type({**schema, "type": k}) for k in kind)
    if kind == "array":
        return f"list of {_schema_type(schema.get('items', {}))}{_constraints(schema)}"
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            return f"map of string to {_schema_type(extra)}"
        return "object"
    if kind is None:
        return "any"
    fmt = f", {schema['format']}" if "format" in schema else ""
    return f"{kind}{fmt}{_constraints(schema)}"


def _example(schema: dict[str, Any], content: dict[str, Any]) -> Any:
    if "example" in content:
        return content["example"]
    if content.get("examples"):
        return next(iter(content["examples"].values())).get("value")
    examples = schema.get("examples") or ([schema["example"]] if "example" in schema else [])
    return examples[0] if examples else None


def _details(summary: str, value: Any) -> list[str]:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    fence = "text" if isinstance(value, str) else "json"
    return [
        f"<details><summary>{summary}</summary>",
        "",
        f"```{fence}",
        text.rstrip("\n"),
        "```",
        "",
        "</details>",
        "",
    ]


def _common_errors(spec: dict[str, Any]) -> dict[str, str]:
    """Each error status and the description most operations give it."""
    seen: dict[str, dict[str, int]] = {}
    for methods in spec["paths"].values():
        for operation in methods.values():
            for status, response in operation.get("responses", {}).items():
                if status[0] in "45":
                    counts = seen.setdefault(status, {})
                    counts[response["description"]] = counts.get(response["description"], 0) + 1
    return {s: max(c, key=lambda d: c[d]) for s, c in sorted(seen.items())}


def _operation(
    method: str, path: str, op: dict[str, Any], spec: dict[str, Any], errors: dict[str, str]
) -> list[str]:
    schemas = spec["components"]["schemas"]
    out = [f"### `{method.upper()} {path}`", "", f"**{op.get('summary', '')}.**", ""]
    if op.get("description"):
        out += [op["description"].strip(), ""]
    if not op.get("security"):
        out += ["No key needed.", ""]
    if op.get("x-aios-roles"):
        needed = " or ".join(f"`{role}`" for role in op["x-aios-roles"])
        out += [f"Needs the {needed} role (403 for any other key, before the body is read).", ""]
    params = op.get("parameters", [])
    if params:
        rows = [
            [
                f"`{p['name']}`",
                p["in"],
                _schema_type(p.get("schema", {})),
                "yes" if p.get("required") else "no",
                p.get("description", ""),
            ]
            for p in params
        ]
        out += [*table(["parameter", "in", "type", "required", "description"], rows), ""]
    body = op.get("requestBody", {})
    for media, content in body.get("content", {}).items():
        schema = content.get("schema", {})
        out += [f"Request body (`{media}`): {_schema_type(schema)}", ""]
        resolved = schemas[_ref_name(schema["$ref"])] if "$ref" in schema else schema
        example = _example(resolved, content)
        if example is not None:
            out += _details("Example request", example)
    answers, failures = [], []
    for status, response in op.get("responses", {}).items():
        if status[0] in "45":
            if response["description"] != errors.get(status):
                failures.append(f"`{status}` {response['description']}")
            else:
                failures.append(f"`{status}`")
            continue
        shapes = []
        for media, content in response.get("content", {}).items():
            schema = content.get("schema", {})
            shape = _schema_type(schema) if schema and schema != {} else ""
            shapes.append(f"`{media}` {shape}".rstrip())
        answers.append((status, response["description"], shapes, response.get("content", {})))
    for status, description, shapes, contents in answers:
        line = f"Answer `{status}`: {description}"
        out += [line + (f" — {', '.join(shapes)}" if shapes else ""), ""]
        for media, content in contents.items():
            schema = content.get("schema", {})
            resolved = schemas[_ref_name(schema["$ref"])] if "$ref" in schema else schema
            example = _example(resolved, content)
            if example is not None:
                out += _details(f"Example answer ({media})", example)
    if failures:
        out += [f"Errors ([problem+json](#errors)): {', '.join(failures)}", ""]
    return out


def _schema_section(name: str, schema: dict[str, Any]) -> list[str]:
    out = [f"### {name}", ""]
    if schema.get("description"):
        out += [" ".join(schema["description"].split()), ""]
    if "enum" in schema:
        out += ["One of " + ", ".join(f"`{v}`" for v in schema["enum"]) + ".", ""]
        return out
    properties = schema.get("properties", {})
    if not properties:
        out += [f"Type: {_schema_type(schema)}.", ""]
        return out
    required = set(schema.get("required", []))
    rows = []
    for field, spec in properties.items():
        description = spec.get("description", "")
        if "default" in spec and spec["default"] not in (None, [], {}):
            description = f"{description} Default: `{json.dumps(spec['default'])}`.".strip()
        rows.append(
            [f"`{field}`", _schema_type(spec), "yes" if field in required else "no", description]
        )
    out += [*table(["field", "type", "required", "description"], rows), ""]
    if schema.get("additionalProperties") is False:
        out += ["Other fields are refused (422).", ""]
    return out


def api_reference(spec: dict[str, Any] | None = None) -> str:
    """`docs/reference/api.md`: every operation of the OpenAPI document, then every schema."""
    spec = spec or openapi_document()
    errors = _common_errors(spec)
    info = spec["info"]
    out = [
        GENERATED.format(source="the API's OpenAPI document (api.app.create_app)"),
        "",
        "# REST API reference",
        "",
        f"{info['title']} {info['version']}: {info.get('summary', '')}.",
        "",
        "Every call but the health checks takes `Authorization: Bearer <key>` (an API key, or a "
        "JWT from your identity provider). Errors are RFC 9457 `application/problem+json` "
        "([Errors](#errors)). A running API serves the same document at `/openapi.json` and "
        "interactive docs at `/docs`. `GET|POST /mcp` (AIOS as an MCP server over streamable "
        "HTTP, same key) is mounted beside the REST routes and not described here. What the "
        "behaviour around these calls is (limits, outages, tenancy, idempotency): "
        "[the API guide](../api.md).",
        "",
    ]
    groups: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            groups.setdefault((op.get("tags") or ["other"])[0], []).append((method, path, op))
    out += ["## Contents", ""]
    for tag, ops in groups.items():
        links = ", ".join(f"[`{m.upper()} {p}`](#{anchor(f'{m.upper()} {p}')})" for m, p, _ in ops)
        out.append(f"- **{tag}**: {links}")
    out += ["- [Errors](#errors)", "- [Schemas](#schemas)", ""]
    for tag, ops in groups.items():
        out += [f"## {tag}", ""]
        for method, path, op in ops:
            out += _operation(method, path, op, spec, errors)
    out += [
        "## Errors",
        "",
        "Every error is a [`Problem`](#problem) (`application/problem+json`). What each status "
        "means, unless the operation says otherwise:",
        "",
    ]
    out += [*table(["status", "meaning"], [[f"`{s}`", d] for s, d in errors.items()]), ""]
    out += ["## Schemas", ""]
    for name in sorted(spec["components"]["schemas"]):
        out += _schema_section(name, spec["components"]["schemas"][name])
    return "\n".join(out).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------------


def references() -> dict[Path, str]:
    """Each generated file and what it should hold."""
    return {API_REFERENCE: api_reference(), CONFIGURATION_REFERENCE: configuration_reference()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.docs_reference", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file is out of date"
    )
    args = parser.parse_args(argv)
    undocumented = undocumented_settings()
    if undocumented:
        print(f"settings without a description: {', '.join(undocumented)}", file=sys.stderr)
        return 1
    stale = []
    for path, text in references().items():
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        stale.append(path.relative_to(REPO).as_posix())
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run `{COMMAND}`", file=sys.stderr)
        return 1
    for name in stale:
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
