"""Scoring an eval: the pure scorers (exact, contains, regex, JSON schema, retrieval hit) of one
answer against its row's expectations, a mean with its confidence interval, and the paired
comparison of two variants (the paired t test; `worse_by` for `aios evals run --fail-if-worse`).
The judge's scorers (grounding, a rubric) call a model and live in activities/evals.py."""

from __future__ import annotations

import json
import math
import re
import warnings
from typing import Any

import jsonschema

from aios.evals import COSTS, MIN_PAIRS, Comparison, ScoreSummary
from aios.models import RunState

# --- the pure scorers --------------------------------------------------------------------------


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def answer_body(answer: str) -> str:
    """The answer without the evidence section AIOS appends and its notes in italics."""
    body = answer.split("\n## ", 1)[0]
    lines = [ln for ln in body.splitlines() if not ln.strip().startswith("_")]
    return "\n".join(lines).strip()


def score_exact(answer: str, expected: str) -> float:
    return float(_normal(answer_body(answer)) == _normal(expected))


def score_contains(answer: str, expected: str) -> float:
    return float(_normal(expected) in _normal(answer))


def score_regex(answer: str, pattern: str) -> float:
    return float(re.search(pattern, answer, re.IGNORECASE | re.DOTALL) is not None)


def score_json_schema(answer: str, schema: dict[str, Any]) -> float:
    """1 when the answer (or its first JSON object or array) is valid against the schema."""
    body = answer_body(answer)
    candidates = [body]
    found = re.search(r"[\[{].*[\]}]", body, re.DOTALL)
    if found:
        candidates.append(found.group(0))
    for text in candidates:
        try:
            jsonschema.validate(json.loads(text), schema)
        except (json.JSONDecodeError, jsonschema.ValidationError):
            continue
        return 1.0
    return 0.0


def score_retrieval_hit(state: RunState, expected_sources: list[str]) -> float:
    """1 when a cited source (its source, title or document id) names an expected source."""
    cited = state.result.citations if state.result else []
    wanted = [s.lower() for s in expected_sources]
    for citation in cited:
        names = (citation.source.lower(), citation.title.lower(), citation.document_id.lower())
        if any(w and any(w in name for name in names) for w in wanted):
            return 1.0
    return 0.0


def mean_ci(values: list[float], confidence: float = 0.95) -> ScoreSummary:
    """The mean with a t confidence interval (scipy); no interval under two values."""
    from scipy import stats

    n = len(values)
    if n == 0:
        return ScoreSummary(n=0)
    mean = sum(values) / n
    if n < 2:
        return ScoreSummary(n=n, mean=mean)
    sem = stats.sem(values)
    if not sem or math.isnan(sem):
        return ScoreSummary(n=n, mean=mean, ci_low=mean, ci_high=mean)
    low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=sem)
    return ScoreSummary(n=n, mean=mean, ci_low=float(low), ci_high=float(high))


def compare(scorer: str, pairs: list[tuple[float, float]], alpha: float = 0.05) -> Comparison:
    """B against A on paired values: the mean difference with its confidence interval, a paired
    t test and a Wilcoxon signed-rank test (scipy). `better` is the side whose mean is higher
    (lower for latency, tokens and cost) when the t test says so at `alpha`."""
    from scipy import stats

    n = len(pairs)
    if n == 0:
        return Comparison(scorer=scorer, n=0)
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    diffs = [y - x for x, y in pairs]
    out = Comparison(scorer=scorer, n=n, mean_a=sum(a) / n, mean_b=sum(b) / n)
    summary = mean_ci(diffs)
    out.diff, out.ci_low, out.ci_high = summary.mean, summary.ci_low, summary.ci_high
    if n < MIN_PAIRS or all(d == 0 for d in diffs):
        out.better = "same" if all(d == 0 for d in diffs) else None
        return out
    with warnings.catch_warnings():
        # Near-identical values (costs in float) warn of precision loss; the p value stands.
        warnings.simplefilter("ignore", RuntimeWarning)
        t = stats.ttest_rel(b, a)
        out.t_p = None if math.isnan(t.pvalue) else float(t.pvalue)
        try:
            out.wilcoxon_p = float(stats.wilcoxon(b, a).pvalue)
        except ValueError:  # every difference zero
            out.wilcoxon_p = None
    if out.t_p is None or out.t_p >= alpha:
        out.better = "same"
    else:
        higher_is_better = scorer not in COSTS
        b_higher = (out.diff or 0) > 0
        out.better = "b" if b_higher == higher_is_better else "a"
    return out


def worse_by(comparison: Comparison) -> float:
    """How much worse B is than A on this scorer (positive: worse), in the scorer's units."""
    if comparison.diff is None:
        return 0.0
    return -comparison.diff if comparison.scorer not in COSTS else comparison.diff
