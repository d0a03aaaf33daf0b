"""Evaluations: a dataset of questions run as ordinary runs, one per row and variant, scored.

A dataset is JSON Lines, one row an object:

    {"question": "How long do seals last?", "expected": "4,000 hours",
     "expected_sources": ["pumps.md"], "rubric": "Names the interval.", "skill": "...",
     "inputs": {...}, "versions": {"system": "v2"}, "id": "q17"}

Only `question` is required. A row that is not JSON, has no question or names an unknown skill or
version is kept as an errored row with the reason; the others run. The scorers (`SCORERS`) score
a row when it has what they need (`exact` and `contains` need `expected`, `regex` needs
`expected_regex`, `json_schema` needs `expected_schema`, `retrieval_hit` needs
`expected_sources`, `judge` needs a rubric and a judge model); latency, tokens and cost are kept
for every row. The pure scorers and the statistics live in aios/eval_scoring.py; grounding and
the judge need the activities (`activities/evals.py`).

An eval has one variant, or two for an A/B (`compare`): each variant is a skill, a set of version
pins or a model; every row runs under each (`aios.eval_scoring.compare` compares them).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aios.errors import describe_field_errors
from aios.models import CacheMode, RunState

QUALITY_SCORERS = (
    "exact",
    "contains",
    "regex",
    "json_schema",
    "retrieval_hit",
    "grounding",
    "judge",
)
# Kept for every scored row (not scorers to choose): the run's latency, tokens and cost, and the
# answer step's confidence where it measured one (to calibrate a review threshold against the
# quality scores of the same rows, docs/quality.md).
METRICS = ("latency_ms", "tokens", "cost_usd", "confidence")
# The metrics where lower is better.
COSTS = ("latency_ms", "tokens", "cost_usd")
SCORERS = (*QUALITY_SCORERS, *METRICS)
DEFAULT_SCORERS = ["exact", "contains", "regex", "json_schema", "retrieval_hit", "grounding"]
MAX_ROWS = 500
# `judge_model` values that ask for no judge even where the deployment configures one.
NO_JUDGE = ("none", "off")
MAX_CONCURRENCY = 16
# A hypothesis test needs a few pairs; with fewer the comparison reports means only.
MIN_PAIRS = 3
EvalStatus = Literal["running", "completed", "failed"]
RowStatus = Literal["pending", "scored", "failed", "errored"]


class DatasetRow(BaseModel):
    """One row of a dataset (unknown keys are metadata, ignored)."""

    model_config = ConfigDict(extra="ignore")

    question: str = Field(min_length=1, max_length=8000)
    id: str | None = Field(default=None, max_length=200)
    expected: str | None = Field(default=None, max_length=20_000)
    expected_regex: str | None = Field(default=None, max_length=2000)
    expected_schema: dict[str, Any] | None = None
    expected_sources: list[str] = Field(default_factory=list, max_length=50)
    rubric: str | None = Field(default=None, max_length=4000)
    skill: str | None = Field(default=None, max_length=100)
    inputs: dict[str, Any] = Field(default_factory=dict)
    versions: dict[str, str] | None = Field(default=None, max_length=8)

    def expectations(self) -> dict[str, Any]:
        return self.model_dump(
            include={"id", "expected", "expected_regex", "expected_schema", "expected_sources"},
            exclude_none=True,
        ) | ({"rubric": self.rubric} if self.rubric else {})


def parse_row(line: str | dict[str, Any]) -> DatasetRow:
    """One dataset row; ValueError with the reason when it cannot run."""
    if isinstance(line, str):
        try:
            line = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"not JSON: {e.msg} at column {e.colno}") from None
    if not isinstance(line, dict):
        raise ValueError("not a JSON object")
    if not str(line.get("question") or "").strip():
        raise ValueError("no question")
    try:
        row = DatasetRow.model_validate(line)
    except ValidationError as e:
        raise ValueError(describe_field_errors(e.errors())) from None
    if row.expected_regex is not None:
        try:
            re.compile(row.expected_regex)
        except re.error as e:
            raise ValueError(f"expected_regex is not a regular expression: {e}") from None
    if row.expected_schema is not None:
        try:
            jsonschema.validators.validator_for(row.expected_schema).check_schema(
                row.expected_schema
            )
        except jsonschema.SchemaError as e:
            raise ValueError(f"expected_schema is not a JSON schema: {e.message}") from None
    return row


def dataset_lines(jsonl: str) -> list[str]:
    """The non-blank lines of a JSON Lines text."""
    return [line for line in jsonl.splitlines() if line.strip()]


# --- the API's wire models ----------------------------------------------------------------------


class EvalVariant(BaseModel):
    """What one side of an eval runs: a skill, version pins (prompts, skill, `model`), or a bare
    version reference (`version`: a label or hash prefix of any prompt, or `latest`)."""

    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, max_length=100)
    skill: str | None = Field(default=None, max_length=100)
    version: str | None = Field(default=None, max_length=100)
    versions: dict[str, str] | None = Field(default=None, max_length=8)
    model: str | None = Field(default=None, max_length=200)

    def name(self) -> str:
        if self.label:
            return self.label
        parts = [f"skill={self.skill}"] if self.skill else []
        parts += [self.version] if self.version else []
        parts += [f"{k}={v}" for k, v in sorted((self.versions or {}).items())]
        parts += [f"model={self.model}"] if self.model else []
        return ",".join(parts) or "latest"


class CreateEval(BaseModel):
    """`POST /v1/evals`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "golden",
                    "jsonl": '{"question": "How long do seals last?", "expected": "4,000 hours"}\n',
                    "skill": "answer_with_citations",
                    "compare": [{"version": "latest"}, {"versions": {"system": "candidate"}}],
                    "scorers": ["contains", "grounding"],
                }
            ]
        },
    )

    name: str = Field(default="eval", max_length=200)
    jsonl: str | None = Field(default=None, description="the dataset as JSON Lines")
    rows: list[dict[str, Any]] | None = Field(default=None, description="or as objects")
    skill: str | None = Field(default=None, max_length=100, description="default skill of rows")
    version: str | None = Field(default=None, max_length=100, description="one variant: a pin")
    versions: dict[str, str] | None = Field(default=None, max_length=8)
    model: str | None = Field(default=None, max_length=200)
    compare: list[EvalVariant] | None = Field(
        default=None, min_length=2, max_length=2, description="A/B: the two variants"
    )
    scorers: list[str] = Field(default_factory=lambda: list(DEFAULT_SCORERS), max_length=20)
    rubric: str | None = Field(default=None, max_length=4000, description="for every row")
    judge_model: str | None = Field(
        default=None,
        max_length=200,
        description="fast, strong or provider:model; unset: the deployment's "
        "(AIOS_JUDGE_MODEL), which checks grounding claim by claim; `none`: no judge "
        "(grounding by word overlap)",
    )
    concurrency: int = Field(default=4, ge=1, le=MAX_CONCURRENCY)
    budget_usd: float | None = Field(default=None, ge=0, description="for all rows together")
    cache: CacheMode | None = Field(
        default=None,
        description="the rows' LLM response cache mode: `auto` (default: temperature-0 calls "
        "answered from the cache, so a repeated eval costs little), `off` (every call paid: "
        "the latency, tokens and cost of a fresh run), `force`",
    )

    def variants(self) -> list[EvalVariant]:
        if self.compare:
            return self.compare
        return [
            EvalVariant(
                label="default",
                skill=self.skill,
                version=self.version,
                versions=self.versions,
                model=self.model,
            )
        ]


class EvalSpec(BaseModel):
    """What an eval was asked to do, as stored."""

    name: str
    variants: list[str]
    scorers: list[str]
    rubric: str | None = None
    judge_model: str | None = None
    concurrency: int = 4
    budget_usd: float | None = None
    key_id: str | None = None


class ScoreSummary(BaseModel):
    """One scorer over one variant's scored rows."""

    n: int
    mean: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


class Comparison(BaseModel):
    """One scorer, variant B against variant A, on the rows both scored."""

    scorer: str
    n: int
    mean_a: float | None = None
    mean_b: float | None = None
    diff: float | None = Field(default=None, description="mean of B - A over the pairs")
    ci_low: float | None = None
    ci_high: float | None = None
    t_p: float | None = Field(default=None, description="paired t test (scipy ttest_rel)")
    wilcoxon_p: float | None = Field(default=None, description="Wilcoxon signed-rank test")
    better: Literal["a", "b", "same"] | None = None


_SUMMARY_EXAMPLE: dict[str, Any] = {
    "eval_id": "eval-01JEXAMPLE0000000000000000",
    "name": "golden",
    "status": "completed",
    "user_id": "ada",
    "variants": ["latest", "candidate"],
    "scorers": ["contains", "grounding"],
    "rows": 20,
    "done": 40,
    "errored": 0,
    "created_at": "2026-12-06T09:00:00Z",
    "finished_at": "2026-12-06T09:01:10Z",
}
_ROW_EXAMPLE: dict[str, Any] = {
    "variant": "candidate",
    "row": 1,
    "status": "scored",
    "question": "How long do seals last?",
    "run_id": "run-01JEXAMPLE0000000000000000-1-1",
    "answer": "Seals are replaced every 4,000 hours [1].",
    "scores": {"contains": 1.0, "grounding": 1.0, "latency_ms": 840.0, "tokens": 410.0},
    "latency_ms": 840.0,
    "tokens": 410,
    "cost_usd": 0.0004,
    "expected": {"expected": "4,000 hours"},
}


class EvalRowOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ROW_EXAMPLE]})

    variant: str
    row: int
    status: RowStatus
    question: str = ""
    run_id: str | None = None
    answer: str | None = None
    scores: dict[str, float | None] = Field(default_factory=dict)
    latency_ms: float | None = None
    tokens: int | None = None
    cost_usd: float | None = None
    error: str | None = None
    expected: dict[str, Any] = Field(default_factory=dict)


class EvalSummary(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_SUMMARY_EXAMPLE]})

    eval_id: str
    name: str
    status: EvalStatus
    user_id: str
    variants: list[str]
    scorers: list[str]
    rows: int
    done: int
    errored: int
    created_at: datetime
    finished_at: datetime | None = None
    judge_model: str | None = Field(
        default=None,
        description="the model that judged grounding and rubrics; None: grounding by word overlap",
    )


class EvalOut(EvalSummary):
    """`GET /v1/evals/{id}`: the summary per variant, the A/B comparison, the rows."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_SUMMARY_EXAMPLE,
                    "summary": {
                        "latest": {
                            "contains": {"n": 20, "mean": 0.9, "ci_low": 0.76, "ci_high": 1.0}
                        },
                        "candidate": {
                            "contains": {"n": 20, "mean": 0.6, "ci_low": 0.37, "ci_high": 0.83}
                        },
                    },
                    "comparison": [
                        {
                            "scorer": "contains",
                            "n": 20,
                            "mean_a": 0.9,
                            "mean_b": 0.6,
                            "diff": -0.3,
                            "ci_low": -0.52,
                            "ci_high": -0.08,
                            "t_p": 0.01,
                            "wilcoxon_p": 0.02,
                            "better": "a",
                        }
                    ],
                    "differing_rows": [3, 7, 9, 12, 15, 18],
                    "results": [_ROW_EXAMPLE],
                }
            ]
        }
    )

    summary: dict[str, dict[str, ScoreSummary]] = Field(default_factory=dict)
    comparison: list[Comparison] = Field(default_factory=list)
    differing_rows: list[int] = Field(
        default_factory=list, description="rows whose quality scores differ between A and B"
    )
    results: list[EvalRowOut] = Field(default_factory=list)


class EvalList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"evals": [_SUMMARY_EXAMPLE], "next_page_token": None}]}
    )

    evals: list[EvalSummary]
    next_page_token: str | None = None


class EvalCreated(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "eval_id": "eval-01JEXAMPLE0000000000000000",
                    "status": "running",
                    "rows": 20,
                    "errored": 1,
                    "variants": ["latest", "candidate"],
                    "links": {
                        "self": "/v1/evals/eval-01JEXAMPLE0000000000000000",
                        "export": "/v1/evals/eval-01JEXAMPLE0000000000000000/export",
                    },
                }
            ]
        }
    )

    eval_id: str
    status: EvalStatus
    rows: int
    errored: int
    variants: list[str]
    links: dict[str, str]


# --- the workflow's models ------------------------------------------------------------------------


class EvalInput(BaseModel):
    eval_id: str
    tenant: str
    concurrency: int = 4


class EvalRowKey(BaseModel):
    eval_id: str
    tenant: str
    user_id: str
    variant: str
    row: int
    run_id: str


class EvalPending(BaseModel):
    rows: list[EvalRowKey] = Field(default_factory=list)
    total: int = 0
    done: int = 0


class EvalRowOutcome(BaseModel):
    key: EvalRowKey
    state: RunState | None = None
    error: str | None = None


class EvalProgress(BaseModel):
    eval_id: str
    total: int = 0
    done: int = 0
    running: int = 0
