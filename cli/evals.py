"""`aios versions`: the versions of prompts and skills. `aios eval DATASET.jsonl`: run a dataset
as an eval (`--compare A B` for an A/B; `--fail-if-worse MARGIN` to gate CI). `aios evals`: list
evals, show one, export its rows, resume a stopped one."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from aios.client import ApiClient
from aios.eval_scoring import (
    worse_by,
)
from aios.evals import (
    METRICS,
    MIN_PAIRS,
    SCORERS,
    CreateEval,
    EvalOut,
    EvalVariant,
)
from aios.text import one_line
from aios.versions import PIN_NAMES

POLL_S = 1.0
# A difference is "significant" for --fail-if-worse at this p of the paired t test.
ALPHA = 0.05


async def cmd_versions(api: ApiClient, args: argparse.Namespace) -> int:
    listing = await api.versions(args.kind)
    if args.json:
        print(json.dumps(listing.model_dump(mode="json"), indent=2, default=str))
        return 0
    for v in listing.versions:
        mark = "*" if v.latest else " "
        where = "" if v.source == "code" else f"  (registered by {v.created_by})"
        print(f"{mark} {v.kind:6}  {v.name:24}  {v.label:16}  {v.short}{where}")
    print("(* latest: what runs use unless they pin a version, e.g. versions: {system: v1})")
    return 0


def parse_variant(text: str) -> EvalVariant:
    """One side of `--compare`: `skill:NAME`, `model:SPEC`, `name=ref[,name=ref]` (prompts,
    skill, model) or a bare version (a label or hash prefix of any prompt, or latest)."""
    kind, sep, rest = text.partition(":")
    if sep and kind == "skill":
        return EvalVariant(label=text, skill=rest)
    if sep and kind == "model":
        return EvalVariant(label=text, model=rest)
    if "=" in text:
        pins: dict[str, str] = {}
        for pair in text.split(","):
            name, _, ref = pair.partition("=")
            if name not in PIN_NAMES or not ref:
                raise SystemExit(
                    f"aios: --compare {text!r}: {pair!r} is not name=version "
                    f"(names: {', '.join(PIN_NAMES)})"
                )
            pins[name] = ref
        model = pins.pop("model", None)
        return EvalVariant(label=text, versions=pins or None, model=model)
    return EvalVariant(label=text, version=text)


def _request(args: argparse.Namespace, dataset: str) -> CreateEval:
    pins = dict(pair.split("=", 1) for pair in args.pin or [] if "=" in pair)
    body: dict[str, Any] = {
        "name": Path(args.dataset).stem,
        "jsonl": dataset,
        "skill": args.skill,
        "version": args.version,
        "versions": pins or None,
        "model": args.model,
        "concurrency": args.concurrency,
        "rubric": args.rubric,
        "judge_model": args.judge_model,
        "budget_usd": args.budget,
        "cache": args.cache,
    }
    if args.scorer:
        body["scorers"] = args.scorer
    if args.compare:
        body["compare"] = [parse_variant(v) for v in args.compare]
    return CreateEval.model_validate({k: v for k, v in body.items() if v is not None})


async def cmd_eval(api: ApiClient, args: argparse.Namespace) -> int:
    path = Path(args.dataset)
    try:
        dataset = await asyncio.to_thread(path.read_text, encoding="utf-8")
    except OSError as e:
        raise SystemExit(f"aios: cannot read the dataset {path}: {e.strerror}") from None
    created = await api.create_eval(_request(args, dataset))
    if not args.json:
        print(
            f"eval {created.eval_id}: {created.rows} rows x {len(created.variants)} "
            f"variant(s) ({', '.join(created.variants)}); {created.errored} row(s) errored"
        )
    if args.no_wait:
        if args.json:
            print(json.dumps(created.model_dump(mode="json"), indent=2))
        return 0
    result = await _wait(api, created.eval_id, quiet=args.json)
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2, default=str))
    else:
        print_eval(result)
    if args.fail_if_worse is not None:
        return gate(result, args.fail_if_worse)
    return 0


async def _wait(api: ApiClient, eval_id: str, *, quiet: bool) -> EvalOut:
    shown = -1
    while True:
        result = await api.eval(eval_id)
        total = result.rows * len(result.variants)
        if not quiet and result.done != shown:
            shown = result.done
            print(f"  {result.done}/{total} rows finished", file=sys.stderr)
        if result.status != "running":
            return result
        await asyncio.sleep(POLL_S)


def _fmt(value: float | None, scorer: str) -> str:
    if value is None:
        return "-"
    if scorer == "cost_usd":
        return f"${value:.4f}"
    if scorer in ("latency_ms", "tokens"):
        return f"{value:.0f}"
    return f"{value:.3f}"


def print_eval(result: EvalOut) -> None:
    print(f"eval {result.eval_id} ({result.name}): {result.status}")
    if "grounding" in result.scorers:
        by = f"judged by {result.judge_model}" if result.judge_model else "by word overlap"
        print(f"grounding {by}")
    errored = [r for r in result.results if r.status == "errored"]
    failed = [r for r in result.results if r.status == "failed"]
    for variant, scores in result.summary.items():
        print(f"\n{variant}:")
        for scorer, s in scores.items():
            if s.n == 0:
                continue
            interval = (
                f"  [{_fmt(s.ci_low, scorer)}, {_fmt(s.ci_high, scorer)}]"
                if s.ci_low is not None
                else ""
            )
            print(f"  {scorer:14} {_fmt(s.mean, scorer):>10}{interval}  (n={s.n})")
    if result.comparison:
        a, b = result.variants
        print(f"\nB ({b}) against A ({a}), paired on the same rows:")
        for c in result.comparison:
            if c.n == 0:
                continue
            p = f"t p={c.t_p:.3g}" if c.t_p is not None else "no test"
            w = f", wilcoxon p={c.wilcoxon_p:.3g}" if c.wilcoxon_p is not None else ""
            verdict = {"a": "A better", "b": "B better", "same": "no significant difference"}
            print(
                f"  {c.scorer:14} A {_fmt(c.mean_a, c.scorer):>10}"
                f"  B {_fmt(c.mean_b, c.scorer):>10}  diff {_fmt(c.diff, c.scorer):>8}"
                f"  ({p}{w}; n={c.n})  "
                f"{verdict.get(c.better or '', '')}"
            )
        if result.differing_rows:
            shown = ", ".join(str(n) for n in result.differing_rows[:30])
            print(f"  rows where they differ: {shown}")
    for r in errored[:20]:
        print(f"row {r.row} ({r.variant}): errored: {r.error}")
    for r in failed[:20]:
        print(f"row {r.row} ({r.variant}): run {r.run_id} failed: {one_line(r.error or '', 100)}")


def gate(result: EvalOut, margin: float) -> int:
    """1 when B is worse than A on a quality scorer by more than `margin` (the mean paired
    difference), significantly (paired t test at ALPHA) or on too few pairs to test."""
    if len(result.variants) != 2:
        print("aios: --fail-if-worse needs --compare A B", file=sys.stderr)
        return 2
    worse = [
        c
        for c in result.comparison
        if c.scorer not in METRICS
        and c.n > 0
        and worse_by(c) > margin
        and (c.n < MIN_PAIRS or (c.t_p is not None and c.t_p < ALPHA))
    ]
    for c in worse:
        print(
            f"FAIL: {result.variants[1]} is worse than {result.variants[0]} on {c.scorer} by "
            f"{worse_by(c):.3f} (margin {margin})",
            file=sys.stderr,
        )
    return 1 if worse else 0


async def cmd_evals(api: ApiClient, args: argparse.Namespace) -> int:
    if args.eval_id is None:
        listing = await api.evals(user_id=args.user, page_size=args.limit)
        if args.json:
            print(json.dumps(listing.model_dump(mode="json"), indent=2, default=str))
            return 0
        if not listing.evals:
            print("no evals yet: aios eval DATASET.jsonl")
        for e in listing.evals:
            print(
                f"{e.eval_id}  {e.created_at:%Y-%m-%d %H:%M}  {e.status:9}  {e.name:20}  "
                f"{e.done}/{e.rows * len(e.variants)}  {', '.join(e.variants)}"
            )
        return 0
    if args.resume:
        await api.resume_eval(args.eval_id)
        result = await _wait(api, args.eval_id, quiet=args.json)
    elif args.export:
        text = await api.eval_export(args.eval_id, args.export)
        if args.output in (None, "-"):
            print(text, end="")
        else:
            await asyncio.to_thread(Path(args.output).write_text, text, encoding="utf-8")
            print(f"wrote {args.output}")
        return 0
    else:
        result = await api.eval(args.eval_id)
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2, default=str))
    else:
        print_eval(result)
    return 0


def add_verbs(verb: Any) -> None:
    """Register `aios versions`, `aios eval` and `aios evals` with the parser's `client_verb`."""
    v = verb("versions", cmd_versions, "list the versions of prompts and skills runs can pin")
    v.add_argument("--kind", choices=("prompt", "skill"), help="only prompts or only skills")
    e = verb("eval", cmd_eval, "run a dataset (JSON Lines) as an eval; --compare A B for an A/B")
    e.add_argument("dataset", help="a JSON Lines file: one {question, expected?, ...} per line")
    e.add_argument("--skill", help="run every row with this skill")
    e.add_argument("--version", help="pin a prompt version (a label or hash prefix)")
    e.add_argument("--pin", action="append", metavar="NAME=VERSION", help="pin one version")
    e.add_argument("--model", help="run every model call on this model (fast, strong, p:m)")
    e.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        help="two variants: a version, name=version, skill:NAME or model:SPEC",
    )
    e.add_argument(
        "--scorer", action="append", choices=SCORERS, help="score with this (repeatable)"
    )
    e.add_argument("--rubric", help="the judge's rubric for every row")
    e.add_argument(
        "--judge-model",
        help="the judge (fast, strong or provider:model); default: AIOS_JUDGE_MODEL on the "
        "server; none: grounding by word overlap",
    )
    e.add_argument("--concurrency", type=int, default=4, help="runs at once (1-16; default 4)")
    e.add_argument("--budget", type=float, help="USD for the whole eval (a ledger cap)")
    e.add_argument(
        "--cache",
        choices=["auto", "off", "force"],
        help="the rows' LLM response cache (default auto; off: every call paid, as a fresh run)",
    )
    e.add_argument(
        "--fail-if-worse",
        type=float,
        metavar="MARGIN",
        help="exit 1 when B is significantly worse than A by more than MARGIN on a scorer",
    )
    e.add_argument("--no-wait", action="store_true", help="start it and print its id")
    ls = verb("evals", cmd_evals, "list evals, show one, export its rows or resume it")
    ls.add_argument("eval_id", nargs="?", help="show this eval (eval-…); omit to list them")
    ls.add_argument("--export", choices=("jsonl", "csv"), help="print or save the rows")
    ls.add_argument("-o", "--output", help="with --export: the file (default: stdout)")
    ls.add_argument("--resume", action="store_true", help="run a stopped eval's remaining rows")
    ls.add_argument("--user", help="operators: only this user's evals")
    ls.add_argument("--limit", type=int, default=20, help="evals to list (1-200)")
