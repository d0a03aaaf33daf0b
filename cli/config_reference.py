"""The configuration reference, `docs/reference/configuration.md`, generated from the settings
(aios/config/): every `AIOS_*` variable with its type, default and description, one table per
group. `undocumented_settings` names a setting without a description (the check fails on it).
Written by `make docs` (cli/docs_reference.py)."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import AliasChoices, BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import NoDecode

from cli.reference_markdown import GENERATED, REPO, anchor, table

CONFIGURATION_REFERENCE = REPO / "docs" / "reference" / "configuration.md"


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """The annotation without `Annotated`, and its metadata."""
    metadata: list[Any] = []
    while get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        metadata += extra
    return annotation, metadata


def _optional_parts(annotation: Any) -> list[Any]:
    if get_origin(annotation) in (Union, types.UnionType):
        return [a for a in get_args(annotation) if a is not type(None)]
    return [annotation]


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    parts = _optional_parts(_unwrap(annotation)[0])
    if len(parts) == 1 and isinstance(parts[0], type) and issubclass(parts[0], BaseModel):
        return parts[0]
    return None


def _setting_type(annotation: Any, metadata: list[Any]) -> str:
    annotation, more = _unwrap(annotation)
    metadata = metadata + more
    comma = any(isinstance(m, NoDecode) or m is NoDecode for m in metadata)
    names = []
    for part in _optional_parts(annotation):
        origin = get_origin(part)
        if origin is Literal:
            names.append(" or ".join(f"`{v}`" for v in get_args(part)))
        elif origin in (list, tuple, set):
            (item, *_) = get_args(part) or (Any,)
            inner = getattr(_unwrap(item)[0], "__name__", str(item))
            names.append(f"list of {inner} ({'comma-separated' if comma else 'JSON'})")
        elif origin is dict:
            names.append("JSON object")
        elif part is SecretStr:
            names.append("secret string")
        elif isinstance(part, type) and issubclass(part, Path):
            names.append("path")
        else:
            names.append(getattr(part, "__name__", str(part)))
    bounds = []
    for m in metadata:
        for cls, mark, attribute in (
            (annotated_types.Ge, "≥", "ge"),
            (annotated_types.Gt, ">", "gt"),
            (annotated_types.Le, "≤", "le"),
            (annotated_types.Lt, "<", "lt"),
        ):
            if isinstance(m, cls):
                bounds.append(f"{mark} {getattr(m, attribute)}")
    return " or ".join(names) + (f" ({', '.join(bounds)})" if bounds else "")


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def _setting_default(name: str, field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        if field.default_factory_takes_validated_data:
            return "computed"
        value = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    comma = any(isinstance(m, NoDecode) or m is NoDecode for m in field.metadata)
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        if value.is_absolute():
            try:
                folder = "" if value.suffix else "/"  # a file's name has a suffix
                return f"the project's `{value.relative_to(REPO).as_posix()}{folder}`"
            except ValueError:
                return f"`{value}`"
        return f"`{value.as_posix()}`"
    if isinstance(value, (list, tuple)) and comma:
        return f"`{','.join(str(v) for v in value)}`" if value else "empty"
    if isinstance(value, (list, tuple, dict)):
        return f"`{json.dumps(value)}`" if value else "empty"
    if value == "":
        return "empty"
    if isinstance(value, int) and name.endswith("_bytes"):
        return f"`{value}` ({_bytes(value)})"
    return f"`{value}`"


def _env_names(name: str, field: FieldInfo, prefix: str) -> list[str]:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        names = [c.upper() for c in alias.choices if isinstance(c, str)]
        return list(dict.fromkeys(names))
    if isinstance(alias, str):
        return [alias.upper()]
    return [f"{prefix}{field.alias or name}".upper()]


def _settings_rows(
    model: type[BaseModel], prefix: str, delimiter: str | None, section: str
) -> Iterator[tuple[str, type[BaseModel], list[str]]]:
    """(section, model, row) for every setting, nested models' fields in their own section."""
    for name, field in model.model_fields.items():
        nested = _nested_model(field.annotation)
        if nested is not None and delimiter:
            yield from _settings_rows(nested, f"{prefix}{name}{delimiter}", delimiter, name)
            continue
        env = ", ".join(f"`{n}`" for n in _env_names(name, field, prefix))
        yield (
            section,
            model,
            [
                env,
                _setting_type(field.annotation, list(field.metadata)),
                _setting_default(name, field),
                field.description or "",
            ],
        )


def undocumented_settings() -> list[str]:
    """Settings fields with no description (the reference would have an empty cell)."""
    from aios.config import Settings

    missing: list[str] = []

    def walk(model: type[BaseModel], path: str) -> None:
        for name, field in model.model_fields.items():
            nested = _nested_model(field.annotation)
            if nested is not None:
                walk(nested, f"{path}{name}.")
            elif not field.description:
                missing.append(f"{path}{name}")

    walk(Settings, "")
    return missing


def configuration_reference() -> str:
    """`docs/reference/configuration.md`: every setting with its variable, type and default."""
    import aios.config
    from aios.config import Settings

    config = Settings.model_config
    prefix = str(config.get("env_prefix") or "")
    delimiter = config.get("env_nested_delimiter")
    out = [
        GENERATED.format(source="the settings class (aios.config.Settings)"),
        "",
        "# Configuration reference",
        "",
        "Every setting of every AIOS process (API, worker, dev stack, CLI), by subsystem, with "
        "its environment variable.",
        "",
        " ".join((aios.config.__doc__ or "").split()),
        "",
        f"`{aios.config.DEV_CONFIG_FILE}` holds the development stack's defaults for the "
        "Temporal dev server, the API address, the models and the bundled model. Lists marked "
        "JSON and JSON objects are written as JSON (`AIOS_FETCH_ALLOW='[\"10.0.0.0/8\"]'`); "
        "comma-separated lists as `a,b`. Secrets are never logged or put into workflow "
        "histories. How to choose models: [models](../models.md).",
        "",
    ]
    header = ["variable", "type", "default", "description"]
    out += ["Groups: " + ", ".join(_group_link(group) for group in Settings.GROUPS.values()), ""]
    # One section per subsystem (Settings.GROUPS); a nested model's fields get their own.
    for view, group in Settings.GROUPS.items():
        sections: dict[str, tuple[type[BaseModel], list[list[str]]]] = {}
        for section, model, row in _settings_rows(group, prefix, delimiter, ""):
            sections.setdefault(section, (model, []))[1].append(row)
        title, about = _group_title(group)
        out += [f"## {title}", "", f"`settings.{view}` ({group.__name__}): {about}", ""]
        for section, (model, rows) in sections.items():
            if section:
                out += [f"### {section}", ""]
                if model.__doc__:
                    out += [" ".join(model.__doc__.split()), ""]
            out += [*table(header, rows), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _group_title(group: type[BaseModel]) -> tuple[str, str]:
    """A group's docstring, `Title: what it holds.`, as its heading and its sentence."""
    doc = " ".join((group.__doc__ or group.__name__).split())
    title, _, about = doc.partition(": ")
    return title[:1].upper() + title[1:], about or doc


def _group_link(group: type[BaseModel]) -> str:
    title = _group_title(group)[0]
    return f"[{title}](#{anchor(title)})"
