"""Evals as the API runs them: a dataset checked and turned into one run input per row and
variant (with every check `POST /v1/runs` makes), stored, and handed to `EvalWorkflow`; read
back with per-variant means, confidence intervals and, for an A/B, paired tests.

Who may: any user runs an eval as themselves (its rows are their runs, under their caps and the
eval's own `budget_usd`); reading and resuming follow run ownership (api/authz.py).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError
from ulid import ULID

from aios import search_attributes as sa
from aios.errors import AiosError, ConfigurationError, Conflict, NotFound, ValidationFailed
from aios.eval_scoring import (
    compare,
    mean_ci,
)
from aios.evals import (
    MAX_ROWS,
    METRICS,
    NO_JUDGE,
    QUALITY_SCORERS,
    SCORERS,
    Comparison,
    CreateEval,
    EvalCreated,
    EvalInput,
    EvalOut,
    EvalRowOut,
    EvalSpec,
    EvalSummary,
    EvalVariant,
    ScoreSummary,
    dataset_lines,
    parse_row,
)
from aios.models import RunCap
from aios.stores.evals import EvalStore, NewRow
from aios.versions import LATEST, MIN_PREFIX, PROMPTS
from aios.wire import CreateRun
from api.authz import may_act_on_run, may_read_run
from api.deps import Principal
from api.run_service import RunService
from api.versions import check_model
from workflows.eval import EvalWorkflow

EVAL_ID_PREFIX = "eval-"


@dataclass
class EvalService:
    runs: RunService

    @property
    def store(self) -> EvalStore:
        return EvalStore(self.runs.pool)

    @property
    def temporal(self) -> Client:
        return self.runs.temporal

    # --- creating ------------------------------------------------------------------------------

    async def create(self, principal: Principal, body: CreateEval) -> EvalCreated:
        """Check the request (422 for an unknown scorer or version, before anything runs), turn
        each row into a run input per variant (a bad row is kept as errored, with the reason),
        store them and start the eval."""
        lines: list[str | dict[str, object]]
        if body.jsonl is not None and body.rows is not None:
            raise ValidationFailed("give the dataset as `jsonl` or as `rows`, not both")
        if body.jsonl is not None:
            lines = list(dataset_lines(body.jsonl))
        elif body.rows is not None:
            lines = list(body.rows)
        else:
            raise ValidationFailed("no dataset: give `jsonl` (JSON Lines) or `rows`")
        if not lines:
            raise ValidationFailed("the dataset has no rows")
        if len(lines) > MAX_ROWS:
            raise ValidationFailed(f"the dataset has {len(lines)} rows; at most {MAX_ROWS}")
        unknown = sorted(set(body.scorers) - set(SCORERS))
        if unknown:
            raise ValidationFailed(
                f"unknown scorer(s) {', '.join(unknown)}; scorers: {', '.join(SCORERS)}",
                details={"field": "scorers"},
            )
        judge_model = self._judge_model(body.judge_model)
        if "judge" in body.scorers and not judge_model:
            raise ValidationFailed(
                "the judge scorer needs a judge_model (fast, strong or provider:model); this "
                "deployment configures none (AIOS_JUDGE_MODEL)"
            )
        variants = body.variants()
        names = [v.name() for v in variants]
        if len(set(names)) != len(names):
            raise ValidationFailed(f"the variants compared must differ; both are {names[0]!r}")
        pins = [await self._pins(principal, v, body.skill) for v in variants]

        eval_id = f"{EVAL_ID_PREFIX}{ULID()}"
        rows: list[NewRow] = []
        for n, line in enumerate(lines, 1):
            try:
                row = parse_row(line)
            except ValueError as e:
                question = line.get("question", "") if isinstance(line, dict) else ""
                rows += [
                    NewRow(name, n, str(question)[:8000], {}, None, None, error=str(e))
                    for name in names
                ]
                continue
            for i, (variant, pinned) in enumerate(zip(variants, pins, strict=True)):
                run_id = f"run-{eval_id.removeprefix(EVAL_ID_PREFIX)}-{i}-{n}"
                request = CreateRun(
                    goal=row.question,
                    skill=row.skill or variant.skill or body.skill,
                    inputs=row.inputs,
                    versions={**(row.versions or {}), **pinned} or None,
                    cache=body.cache,
                )
                try:
                    run_input = await self.runs.prepare(principal, request)
                except AiosError as e:
                    rows.append(
                        NewRow(names[i], n, row.question, row.expectations(), None, None, e.message)
                    )
                    continue
                if body.budget_usd is not None:  # a cap over every row, kept by the ledger
                    run_input.parent_runs = [RunCap(run_id=eval_id, usd=body.budget_usd)]
                rows.append(
                    NewRow(names[i], n, row.question, row.expectations(), run_input, run_id)
                )
        spec = EvalSpec(
            name=body.name,
            variants=names,
            scorers=list(dict.fromkeys(body.scorers)),
            rubric=body.rubric,
            judge_model=judge_model,
            concurrency=body.concurrency,
            budget_usd=body.budget_usd,
            key_id=principal.key_id,
        )
        await self.store.create(
            eval_id, principal.tenant, principal.user_id, spec, len(lines), rows
        )
        await self._start(principal.tenant, principal.user_id, eval_id, body.concurrency)
        errored = len({r.row for r in rows if r.error})
        return EvalCreated(
            eval_id=eval_id,
            status="running",
            rows=len(lines),
            errored=errored,
            variants=names,
            links={"self": f"/v1/evals/{eval_id}", "export": f"/v1/evals/{eval_id}/export"},
        )

    def _judge_model(self, asked: str | None) -> str | None:
        """The eval's judge: the one asked for, else the deployment's (AIOS_JUDGE_MODEL);
        `none` asks for no judge (grounding by word overlap)."""
        if asked is not None and asked.strip().lower() in NO_JUDGE:
            return None
        if asked:
            return check_model(asked)
        configured = self.runs.settings.judge_model
        if not configured:
            return None
        try:
            return check_model(configured)
        except ValidationFailed:
            raise ConfigurationError(
                f"AIOS_JUDGE_MODEL={configured!r} is not fast, strong or provider:model"
            ) from None

    async def _pins(
        self, principal: Principal, variant: EvalVariant, skill: str | None
    ) -> dict[str, str]:
        """A variant's pins, checked now: 422 for an unknown version, model or skill."""
        pins = dict(variant.versions or {})
        if variant.model:
            pins["model"] = variant.model
        if variant.version and variant.version.strip().lower() not in LATEST:
            pins.update(await self._bare(principal.tenant, variant.version.strip()))
        run_skill = variant.skill or skill
        if run_skill is not None:
            self.runs.skills.get(run_skill)  # NotFound: 404 naming the skills
        await self.runs.versions.resolve(principal.tenant, pins, run_skill)
        return pins

    async def _bare(self, tenant: str, ref: str) -> dict[str, str]:
        """A version named without its prompt (`candidate`, `3fa2c1`): the one prompt that has
        it."""
        known = await self.runs.versions.list(tenant, "prompt")
        lowered = ref.lower()
        names = {
            v.name
            for v in known
            if v.label == ref or (len(lowered) >= MIN_PREFIX and v.hash.startswith(lowered))
        }
        if len(names) == 1:
            return {names.pop(): ref}
        if names:
            raise ValidationFailed(
                f"version {ref!r} names versions of several prompts ({', '.join(sorted(names))}); "
                "pin it as prompt=version"
            )
        raise ValidationFailed(
            f"unknown version {ref!r}: no prompt ({', '.join(PROMPTS)}) has that label or hash "
            "(GET /v1/versions)"
        )

    async def _start(self, tenant: str, user_id: str, eval_id: str, concurrency: int) -> None:
        try:
            await self.temporal.start_workflow(
                EvalWorkflow.run,
                EvalInput(eval_id=eval_id, tenant=tenant, concurrency=concurrency),
                id=eval_id,
                task_queue=self.runs.settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                search_attributes=sa.owned_by(tenant, user_id),
                static_summary=f"eval {eval_id}",
                rpc_timeout=timedelta(seconds=self.runs.settings.read_timeout_s * 3),
            )
        except WorkflowAlreadyStartedError:
            raise Conflict(f"eval {eval_id} is running") from None

    async def resume(self, principal: Principal, eval_id: str) -> EvalSummary:
        """Start an eval that stopped (terminated, failed, its history lost) again: the rows it
        scored stay, the others run."""
        summary = await self._owned(principal, eval_id, act=True)
        try:
            description = await self.temporal.get_workflow_handle(eval_id).describe()
            status = description.status
        except RPCError:  # no such workflow any more: its history is gone
            status = None
        if status == WorkflowExecutionStatus.RUNNING:
            raise Conflict(f"eval {eval_id} is running; nothing to resume")
        if status == WorkflowExecutionStatus.COMPLETED and summary.status == "completed":
            raise Conflict(f"eval {eval_id} finished; nothing to resume")
        spec = await self.store.spec(eval_id)
        await self.store.reopen(eval_id)
        await self._start(
            principal.tenant, summary.user_id, eval_id, spec.concurrency if spec else 4
        )
        return await self._owned(principal, eval_id)

    # --- reading -------------------------------------------------------------------------------

    async def _owned(self, principal: Principal, eval_id: str, act: bool = False) -> EvalSummary:
        summary = await self.store.get(principal.tenant, eval_id)
        allowed = summary is not None and (may_act_on_run if act else _may_read)(
            principal, summary.user_id
        )
        if summary is None or not allowed:
            raise NotFound(f"no eval {eval_id!r}")
        return summary

    async def get(self, principal: Principal, eval_id: str) -> EvalOut:
        summary = await self._owned(principal, eval_id)
        rows = await self.store.rows(eval_id)
        out = EvalOut(**summary.model_dump(), results=rows)
        out.summary = {v: summarize(rows, v, summary.scorers) for v in summary.variants}
        if len(summary.variants) == 2:
            out.comparison, out.differing_rows = ab(
                rows, summary.variants[0], summary.variants[1], summary.scorers
            )
        return out

    async def export(self, principal: Principal, eval_id: str, fmt: str) -> str:
        summary = await self._owned(principal, eval_id)
        rows = await self.store.rows(eval_id)
        if fmt == "jsonl":
            return "".join(r.model_dump_json() + "\n" for r in rows)
        scorers = [s for s in SCORERS if s in summary.scorers or s in METRICS]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        head = ["variant", "row", "status", "question", "run_id", "error", *scorers, "answer"]
        writer.writerow(head)
        for r in rows:
            writer.writerow(
                [r.variant, r.row, r.status, r.question, r.run_id or "", r.error or ""]
                + ["" if r.scores.get(s) is None else r.scores[s] for s in scorers]
                + [r.answer or ""]
            )
        return buffer.getvalue()


def _may_read(principal: Principal, owner: str) -> bool:
    return may_read_run(principal, owner, awaiting_approval=False)


def _scored(rows: list[EvalRowOut], variant: str) -> dict[int, dict[str, float | None]]:
    return {r.row: r.scores for r in rows if r.variant == variant and r.status != "errored"}


def _scorers(scorers: list[str]) -> list[str]:
    return [s for s in SCORERS if s in scorers or s in METRICS]


def summarize(rows: list[EvalRowOut], variant: str, scorers: list[str]) -> dict[str, ScoreSummary]:
    """Each scorer's mean over the variant's rows that it scored, with a 95% t interval."""
    scored = _scored(rows, variant)
    out: dict[str, ScoreSummary] = {}
    for scorer in _scorers(scorers):
        values = [s[scorer] for s in scored.values() if s.get(scorer) is not None]
        out[scorer] = mean_ci([float(v) for v in values if v is not None])
    return out


def ab(
    rows: list[EvalRowOut], a: str, b: str, scorers: list[str]
) -> tuple[list[Comparison], list[int]]:
    """B against A per scorer on the rows both scored, and the rows where a quality score
    differs."""
    left, right = _scored(rows, a), _scored(rows, b)
    both = sorted(set(left) & set(right))
    comparisons = []
    for scorer in _scorers(scorers):
        pairs = [
            (float(left[n][scorer] or 0), float(right[n][scorer] or 0))
            for n in both
            if left[n].get(scorer) is not None and right[n].get(scorer) is not None
        ]
        comparisons.append(compare(scorer, pairs))
    differing = [
        n
        for n in both
        if any(left[n].get(s) != right[n].get(s) for s in QUALITY_SCORERS if s in scorers)
    ]
    return comparisons, differing
