"""Skills and tools on the wire: listing them, starting a skill (`POST /v1/skills/{name}/runs`)
and invoking a tool (`POST /v1/tools/{name}/invoke`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aios.models import CacheMode, ToolSpec
from aios.plan import ReviewPolicy
from aios.skills import SkillInfo
from aios.vocabulary import RunStatus
from aios.wire.base import SAFE_VALUE


class SkillList(BaseModel):
    skills: list[SkillInfo]


class StartSkill(BaseModel):
    """`POST /v1/skills/{name}/runs`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"inputs": {"topic": "How do approvals work?"}}]},
    )

    inputs: dict[str, Any] = Field(default_factory=dict)
    goal: str | None = Field(default=None, description="default: from the skill's inputs")
    user_id: str | None = Field(default=None, max_length=200, pattern=SAFE_VALUE.pattern)
    session_id: str | None = Field(default=None, max_length=200, pattern=SAFE_VALUE.pattern)
    budget_usd: float | None = Field(default=None, gt=0)
    cache: CacheMode | None = None
    review: ReviewPolicy | None = None


class ToolList(BaseModel):
    tools: list[ToolSpec]


class Invoke(BaseModel):
    """`POST /v1/tools/{name}/invoke`."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"args": {"text": "count these words"}}]}
    )

    args: dict[str, Any] = Field(default_factory=dict)


class Invoked(BaseModel):
    output: Any = None
    run_id: str
    status: RunStatus
