"""Runs on the wire: starting one (`POST /v1/runs`), where to follow it, listing and cancelling
runs, and the files a run's tools wrote.

A run's state itself (`RunState`) is in `aios.models`: the workflow answers with it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aios.config import DEFAULT_MAX_GOAL_CHARS
from aios.models import CacheMode
from aios.plan import Plan, ReviewPolicy
from aios.vocabulary import PlannerName, RunStatus
from aios.wire.base import SAFE_VALUE
from aios.wire.voice import Transcript


class CreateRun(BaseModel):
    """`POST /v1/runs`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"goal": "Write a short report on how our pumps are maintained"},
                {
                    "goal": "Publish the weekly summary",
                    "plan": {
                        "steps": [
                            {
                                "id": "draft",
                                "kind": "tool",
                                "tool": "echo",
                                "args": {"value": "the draft"},
                            },
                        ]
                    },
                    "budget_usd": 0.5,
                },
            ]
        },
    )

    goal: str = Field(
        min_length=1,
        description="what the run should achieve; at most AIOS_MAX_GOAL_CHARS characters "
        "(8000 by default: put long material in a document)",
        # Documented here; checked by the run service against the deployment's setting.
        json_schema_extra={"maxLength": DEFAULT_MAX_GOAL_CHARS},
    )
    skill: str | None = Field(default=None, max_length=100)
    inputs: dict[str, Any] = Field(default_factory=dict)
    planner: PlannerName = PlannerName.HYBRID
    user_id: str | None = Field(default=None, max_length=200, pattern=SAFE_VALUE.pattern)
    session_id: str | None = Field(default=None, max_length=200, pattern=SAFE_VALUE.pattern)
    budget_usd: float | None = Field(
        default=None, ge=0, description="stop before a model call that could cost more"
    )
    max_tokens: int | None = Field(
        default=None, ge=1, description="total tokens the run may use (input and output)"
    )
    max_steps: int | None = Field(default=None, ge=1, le=200)
    max_replans: int = Field(
        default=1, ge=0, le=5, description="revised plans after a failed step (LLM plans only)"
    )
    plan: Plan | None = Field(default=None, description="run this plan instead of planning")
    versions: dict[str, str] | None = Field(
        default=None,
        max_length=8,
        description="pin versions (GET /v1/versions): system, planner, agent, skill (a label, a "
        "hash prefix or latest), model (fast, strong or provider:model); default: latest",
    )
    cache: CacheMode | None = Field(
        default=None,
        description="which model calls the LLM response cache may answer: `auto` (default: "
        "temperature 0 only), `force` (all), `off` (bypass the cache)",
    )
    review: ReviewPolicy | None = Field(
        default=None,
        description="when a person reviews the answer before the run returns it "
        "(`{when: low_confidence|always|never, threshold}`); default: the skill's, else none",
    )

    def fingerprint(self) -> str:
        """The same request gives the same fingerprint (an Idempotency-Key must not be reused
        for a different request)."""
        # Without an unset `versions`: a request's fingerprint stays what it was before pins.
        unset = {"versions"} if self.versions is None else None
        canonical = json.dumps(
            self.model_dump(mode="json", exclude=unset), sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


class RunLinks(BaseModel):
    self: str
    events: str
    temporal_ui: str


class RunCreated(BaseModel):
    """The answer to starting a run (202): where to follow it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "run_id": "run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                    "status": "queued",
                    "links": {
                        "self": "http://127.0.0.1:8000/v1/runs/run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                        "events": "http://127.0.0.1:8000/v1/runs/run-01jd2x7k9q3m5n8p4r6s0t2v4w/events",
                        "temporal_ui": "http://127.0.0.1:8233/namespaces/default/workflows/run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                    },
                }
            ]
        }
    )

    run_id: str
    status: RunStatus
    links: RunLinks
    transcript: Transcript | None = Field(
        default=None, description="what was heard, when the goal was sent as `audio`"
    )


class RunSummary(BaseModel):
    run_id: str
    status: RunStatus
    goal: str
    user_id: str | None
    created_at: datetime | None
    closed_at: datetime | None


class RunList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "runs": [
                        {
                            "run_id": "run-01jd2x7k9q3m5n8p4r6s0t2v4w",
                            "status": "completed",
                            "goal": "Write a short report on how our pumps are maintained",
                            "user_id": "ada",
                            "created_at": "2026-11-22T09:00:00Z",
                            "closed_at": "2026-11-22T09:00:12Z",
                        }
                    ],
                    "next_page_token": "CgZydW4tMDE.9c1f03a2b7e4d615",
                }
            ]
        }
    )

    runs: list[RunSummary]
    next_page_token: str | None


class RunFilter(BaseModel):
    """Which of the caller's tenant's runs `GET /v1/runs` lists."""

    status: RunStatus | None = None
    user_id: str | None = None
    schedule_id: str | None = None


class CancelAccepted(BaseModel):
    run_id: str
    status: str


class RunFileOut(BaseModel):
    """A file the run's tools wrote (`file_write`)."""

    path: str
    bytes: int
    updated_at: datetime
    download: str


class RunFileList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "files": [
                        {
                            "path": "notes/plan.md",
                            "bytes": 14,
                            "updated_at": "2026-11-22T09:00:07Z",
                            "download": "/v1/runs/run-01jd2x7k9q3m5n8p4r6s0t2v4w/files/notes/"
                            "plan.md",
                        }
                    ]
                }
            ]
        }
    )

    files: list[RunFileOut]
