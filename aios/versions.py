"""Versions of prompts and skills: a content hash plus a human label.

The prompts a run's model calls open with (the default system prompt of an `llm` step, the LLM
planner's, an `agent` step's) and every skill (its YAML) are versioned artifacts. A version is the
sha256 of its text; its label is `v<n>` in the order the deployment first saw it (prompts), the
skill file's own `version:` (skills), or a name given when someone registered a candidate text
(`POST /v1/versions`). The texts are kept in PostgreSQL (`aios/stores/versions.py`) so a pin can
run an older text after the code changed.

A run names what it wants in `versions` (`{"planner": "v1", "system": "3fa2c1", "skill":
"latest", "model": "strong"}`): the API resolves every pin before the run starts and the run
carries the result, `RunVersions`, which its activities read and its state and trace record.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aios.errors import ValidationFailed

# The prompts a pin may name, and what each opens.
PROMPTS: dict[str, str] = {
    "system": "the default system prompt of an llm step (answers, reports)",
    "planner": "the LLM planner's instructions",
    "agent": "an agent step's system prompt",
}
SKILL_PIN = "skill"
MODEL_PIN = "model"
PIN_NAMES = (*PROMPTS, SKILL_PIN, MODEL_PIN)
LATEST = ("latest", "current")
SHORT = 12
MIN_PREFIX = 4
LABEL = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_HEX = re.compile(r"^[0-9a-f]+$")

VersionKind = Literal["prompt", "skill"]


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class VersionInfo(BaseModel):
    """One version as `GET /v1/versions` lists it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "prompt",
                    "name": "system",
                    "hash": "3fa2c1" + "0" * 58,
                    "short": "3fa2c1000000",
                    "label": "candidate",
                    "latest": False,
                    "source": "registered",
                    "created_by": "olga",
                    "created_at": "2026-12-06T09:00:00Z",
                }
            ]
        }
    )

    kind: VersionKind
    name: str
    hash: str = Field(description="sha256 of the text")
    short: str = Field(description="the hash's first 12 hex digits")
    label: str
    latest: bool = Field(default=False, description="what runs use when they pin nothing")
    source: Literal["code", "registered"] = "code"
    created_by: str | None = None
    created_at: datetime | None = None


class RunVersions(BaseModel):
    """What a run used: the hash of each prompt (pinned or the latest), its skill's, the model
    it was told to use. Resolved by the API; read by the activities; recorded on the run."""

    prompts: dict[str, str] = Field(default_factory=dict, description="prompt name → sha256")
    skill: str | None = Field(default=None, description="the skill's name")
    skill_hash: str | None = None
    model: str | None = Field(default=None, description="every model call of the run uses it")
    pinned: list[str] = Field(default_factory=list, description="what was pinned, not latest")
    # The pins the run's request named itself (not its skill's): they hold over the pins of any
    # skill the run picks later (the rule planner by its triggers, a skill step's child run).
    requested: list[str] = Field(
        default_factory=list, description="what the run's request pinned (over its skills' pins)"
    )


def resolve(name: str, ref: str, known: list[VersionInfo]) -> VersionInfo:
    """The version of `name` that `ref` means: `latest`, a label, or a hash prefix (at least
    four hex digits, unambiguous). Raises ValidationFailed naming the known ones."""
    wanted = ref.strip()
    if wanted.lower() in LATEST:
        latest = next((v for v in known if v.latest), None)
        if latest is not None:
            return latest
    by_label = [v for v in known if v.label == wanted]
    if len(by_label) == 1:
        return by_label[0]
    lowered = wanted.lower()
    if len(lowered) >= MIN_PREFIX and _HEX.match(lowered):
        matches = [v for v in known if v.hash.startswith(lowered)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ValidationFailed(
                f"versions.{name}: {ref!r} is the prefix of {len(matches)} versions; give more "
                "of the hash"
            )
    listed = ", ".join(f"{v.label} ({v.short})" for v in known) or "none"
    raise ValidationFailed(f"versions.{name}: unknown version {ref!r}; known: {listed}")


class VersionList(BaseModel):
    """`GET /v1/versions`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "versions": [
                        {
                            "kind": "prompt",
                            "name": "system",
                            "hash": "3fa2c1" + "0" * 58,
                            "short": "3fa2c1000000",
                            "label": "v1",
                            "latest": True,
                            "source": "code",
                        }
                    ]
                }
            ]
        }
    )

    versions: list[VersionInfo]


class RegisterVersion(BaseModel):
    """`POST /v1/versions`: a candidate prompt text for the tenant's runs to pin."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "system",
                    "label": "candidate",
                    "text": "You are a careful research assistant. Answer in one sentence.",
                }
            ]
        },
    )

    name: str = Field(description="the prompt: system, planner or agent")
    label: str = Field(pattern=LABEL)
    text: str = Field(min_length=1, max_length=20_000)
