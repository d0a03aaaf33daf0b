"""Pydantic models from small JSON schemas (HTTP tools declared in YAML, skill inputs), so that
everything AIOS validates goes through one validator and reports errors the same way; and reading
the YAML files that declare them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, create_model

from aios.errors import ConfigurationError

_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list,
    "object": dict,
}
# JSON-schema bounds and the pydantic constraints they become.
_BOUNDS = {
    "minimum": "ge",
    "maximum": "le",
    "minLength": "min_length",
    "maxLength": "max_length",
    "minItems": "min_length",
    "maxItems": "max_length",
}


def read_yaml_file(path: Path, what: str) -> Any:
    """The document in a YAML file; one that cannot be read is a configuration error naming
    `what` it is and the file."""
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigurationError(f"{what} {path}: cannot be read: {e}") from None


def model_from_schema(name: str, schema: dict[str, Any]) -> type[BaseModel]:
    """A pydantic model for a flat JSON-schema object: properties of JSON types, `enum`,
    `required`, `default`, `description`. Anything else is refused so that what the registry
    validates is what the schema says."""
    if schema.get("type", "object") != "object":
        raise ValueError("input_schema must be an object schema")
    unsupported = set(schema) - {"type", "properties", "required", "description", "title"}
    if unsupported:
        raise ValueError(f"input_schema keywords not supported: {', '.join(sorted(unsupported))}")
    required = set(schema.get("required", []))
    fields: dict[str, Any] = {}
    for prop, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            raise ValueError(f"property {prop!r} is not a schema")
        extra = set(sub) - {"type", "enum", "default", "description", "items", "title", *_BOUNDS}
        if extra:
            raise ValueError(
                f"property {prop!r}: keywords not supported: {', '.join(sorted(extra))}"
            )
        if "enum" in sub:
            annotation: Any = Literal[tuple(sub["enum"])]
        elif sub.get("type") in _JSON_TYPES:
            annotation = _JSON_TYPES[sub["type"]]
        else:
            raise ValueError(f"property {prop!r} needs a JSON type or an enum")
        default = ... if prop in required else sub.get("default")
        if prop not in required and "default" not in sub:
            annotation = annotation | None
        bounds = {_BOUNDS[k]: v for k, v in sub.items() if k in _BOUNDS}
        fields[prop] = (annotation, Field(default, description=sub.get("description"), **bounds))
    model: type[BaseModel] = create_model(
        f"{name}_args", __config__=ConfigDict(extra="forbid"), **fields
    )
    return model
