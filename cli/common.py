"""What the `aios` verb modules share: the settings, the API a client verb talks to, `--input
key=value` parsing, JSON output and reading a recording. One place, so that every verb finds the
API and prints JSON the same way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydantic

from aios.client import ApiClient
from aios.config import Settings
from cli.runtime import read_runtime


def load_settings() -> Settings:
    return Settings()  # a bad setting raises pydantic.ValidationError: see cli.main.main()


def api_client(settings: Settings) -> ApiClient:
    """The API named by AIOS_API_URL / AIOS_API_KEY, else the stack `aios dev` runs from here."""
    runtime = read_runtime(settings)
    url = settings.api_url or runtime.get("api_url") or settings.api_listen_url
    key = settings.api_key.get_secret_value() if settings.api_key else runtime.get("api_key")
    if key is None and settings.dev_api_key is not None:
        key = settings.dev_api_key.get_secret_value()
    return ApiClient(url, key)


def parse_inputs(pairs: list[str]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"aios: --input takes key=value, got {pair!r}")
        try:
            inputs[key] = json.loads(raw)  # numbers, booleans, JSON objects
        except ValueError:
            inputs[key] = raw
    return inputs


def print_json(value: Any) -> None:
    if isinstance(value, pydantic.BaseModel):
        value = value.model_dump(mode="json")
    print(json.dumps(value, indent=2, default=str))


def read_audio(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise SystemExit(f"aios: cannot read the recording {path!r}: {e.strerror}") from None
