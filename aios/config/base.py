"""What every settings group shares: the development stack's file, the model router's
configuration, the bundled model's name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
)

DEV_CONFIG_FILE = "temporal-dev.yaml"
# The project's folder (the checkout, or where the package is installed from): skills/ and
# policies/ are found there by default.
PROJECT = Path(__file__).resolve().parents[2]
DEFAULT_MAX_GOAL_CHARS = 8000


class LlmConfig(BaseModel):
    """What the model router needs to reach the providers, and nothing else of the settings."""

    model_fast: str
    model_strong: str
    model_fallback: str = ""
    local_model_url: str
    local_context_window: int
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    prices: dict[str, tuple[float, float]] = Field(default_factory=dict)
    context_windows: dict[str, int] = Field(default_factory=dict)
    # Model calls in flight at once per provider, per worker process (unset: no limit).
    concurrency: dict[str, int] = Field(default_factory=dict)


# The small model shipped for offline use (SmolLM2-135M): good at following a format, not at
# judging what a document says, so research reports show verbatim quotes instead of its notes.
BUNDLED_MODEL = "local:smollm2"


def comma_separated(value: Any) -> Any:
    """`a, b` as a list (the settings typed `NoDecode` are written comma-separated)."""
    if isinstance(value, str):
        return [q.strip() for q in value.split(",") if q.strip()]
    return value
