"""Evaluations and their rows (migration 0011): what an eval asked, each row's run input, and
each row's result once scored. The eval workflow reads the rows still pending, so a restarted
eval runs only those."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from aios.db import transient_on_connection_loss
from aios.evals import EvalRowKey, EvalRowOut, EvalSpec, EvalSummary
from aios.models import AgentRunInput


@dataclass
class NewRow:
    variant: str
    row: int
    question: str
    expected: dict[str, Any]
    run_input: AgentRunInput | None
    run_id: str | None
    error: str | None = None


@dataclass
class RowResult:
    status: str
    answer: str | None
    scores: dict[str, float | None]
    latency_ms: float | None
    tokens: int | None
    cost_usd: float | None
    error: str | None = None


_SUMMARY = (
    "SELECT e.id, e.tenant, e.user_id, e.status, e.spec, e.rows_total, e.created_at,"
    " e.finished_at,"
    " count(r.*) FILTER (WHERE r.status IN ('scored', 'failed', 'errored')) AS done,"
    " count(r.*) FILTER (WHERE r.status = 'errored') AS errored"
    " FROM evals e LEFT JOIN eval_rows r ON r.eval_id = e.id"
)


def _summary(row: asyncpg.Record) -> EvalSummary:
    spec = EvalSpec.model_validate_json(row["spec"])
    return EvalSummary(
        eval_id=row["id"],
        name=spec.name,
        status=row["status"],
        user_id=row["user_id"],
        variants=spec.variants,
        scorers=spec.scorers,
        rows=row["rows_total"],
        done=row["done"],
        errored=row["errored"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        judge_model=spec.judge_model,
    )


class EvalStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def create(
        self,
        eval_id: str,
        tenant: str,
        user_id: str,
        spec: EvalSpec,
        rows_total: int,
        rows: list[NewRow],
    ) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO evals (id, tenant, user_id, spec, rows_total)"
                " VALUES ($1, $2, $3, $4, $5)",
                eval_id,
                tenant,
                user_id,
                spec.model_dump_json(),
                rows_total,
            )
            await conn.executemany(
                "INSERT INTO eval_rows (tenant, eval_id, variant, row_n, status, question,"
                " expected, run_input, run_id, error, finished_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
                " CASE WHEN $5 = 'errored' THEN now() END)",
                [
                    (
                        tenant,
                        eval_id,
                        r.variant,
                        r.row,
                        "errored" if r.error else "pending",
                        r.question,
                        json.dumps(r.expected),
                        r.run_input.model_dump_json() if r.run_input else None,
                        r.run_id,
                        r.error,
                    )
                    for r in rows
                ],
            )

    @transient_on_connection_loss
    async def pending(self, eval_id: str) -> tuple[list[EvalRowKey], int, int]:
        """The rows not yet finished (in row order), the number of rows, the finished ones."""
        rows = await self._pool.fetch(
            "SELECT r.tenant, e.user_id, r.variant, r.row_n, r.run_id, r.status FROM eval_rows r"
            " JOIN evals e ON e.id = r.eval_id WHERE r.eval_id = $1 ORDER BY r.row_n, r.variant",
            eval_id,
        )
        keys = [
            EvalRowKey(
                eval_id=eval_id,
                tenant=r["tenant"],
                user_id=r["user_id"],
                variant=r["variant"],
                row=r["row_n"],
                run_id=r["run_id"],
            )
            for r in rows
            if r["status"] == "pending"
        ]
        return keys, len(rows), len(rows) - len(keys)

    @transient_on_connection_loss
    async def run_input(self, key: EvalRowKey) -> AgentRunInput | None:
        raw = await self._pool.fetchval(
            "SELECT run_input FROM eval_rows WHERE eval_id = $1 AND variant = $2 AND row_n = $3",
            key.eval_id,
            key.variant,
            key.row,
        )
        return None if raw is None else AgentRunInput.model_validate_json(raw)

    @transient_on_connection_loss
    async def expected(self, key: EvalRowKey) -> tuple[str, dict[str, Any]]:
        row = await self._pool.fetchrow(
            "SELECT question, expected FROM eval_rows WHERE eval_id = $1 AND variant = $2"
            " AND row_n = $3",
            key.eval_id,
            key.variant,
            key.row,
        )
        if row is None:
            return "", {}
        return row["question"], json.loads(row["expected"])

    @transient_on_connection_loss
    async def spec(self, eval_id: str) -> EvalSpec | None:
        raw = await self._pool.fetchval("SELECT spec FROM evals WHERE id = $1", eval_id)
        return None if raw is None else EvalSpec.model_validate_json(raw)

    @transient_on_connection_loss
    async def save(self, key: EvalRowKey, result: RowResult) -> None:
        """A row's result (once: a repeated score of a finished row changes nothing)."""
        await self._pool.execute(
            "UPDATE eval_rows SET status = $4, answer = $5, scores = $6, latency_ms = $7,"
            " tokens = $8, cost_usd = $9, error = $10, finished_at = now()"
            " WHERE eval_id = $1 AND variant = $2 AND row_n = $3 AND status = 'pending'",
            key.eval_id,
            key.variant,
            key.row,
            result.status,
            result.answer,
            json.dumps(result.scores),
            result.latency_ms,
            result.tokens,
            result.cost_usd,
            result.error,
        )

    @transient_on_connection_loss
    async def finish(self, eval_id: str, status: str = "completed") -> None:
        await self._pool.execute(
            "UPDATE evals SET status = $2, finished_at = now() WHERE id = $1", eval_id, status
        )

    @transient_on_connection_loss
    async def reopen(self, eval_id: str) -> None:
        await self._pool.execute(
            "UPDATE evals SET status = 'running', finished_at = NULL WHERE id = $1", eval_id
        )

    @transient_on_connection_loss
    async def get(self, tenant: str, eval_id: str) -> EvalSummary | None:
        row = await self._pool.fetchrow(
            _SUMMARY + " WHERE e.tenant = $1 AND e.id = $2 GROUP BY e.id", tenant, eval_id
        )
        return None if row is None else _summary(row)

    @transient_on_connection_loss
    async def listing(
        self, tenant: str, user_id: str | None, *, limit: int, before: datetime | None = None
    ) -> list[EvalSummary]:
        rows = await self._pool.fetch(
            _SUMMARY + " WHERE e.tenant = $1 AND ($2::text IS NULL OR e.user_id = $2)"
            " AND ($3::timestamptz IS NULL OR e.created_at < $3)"
            " GROUP BY e.id ORDER BY e.created_at DESC, e.id DESC LIMIT $4",
            tenant,
            user_id,
            before,
            limit,
        )
        return [_summary(r) for r in rows]

    @transient_on_connection_loss
    async def rows(self, eval_id: str) -> list[EvalRowOut]:
        rows = await self._pool.fetch(
            "SELECT variant, row_n, status, question, run_id, answer, scores, latency_ms,"
            " tokens, cost_usd, error, expected FROM eval_rows WHERE eval_id = $1"
            " ORDER BY row_n, variant",
            eval_id,
        )
        return [
            EvalRowOut(
                variant=r["variant"],
                row=r["row_n"],
                status=r["status"],
                question=r["question"],
                run_id=r["run_id"],
                answer=r["answer"],
                scores=json.loads(r["scores"]),
                latency_ms=r["latency_ms"],
                tokens=r["tokens"],
                cost_usd=r["cost_usd"],
                error=r["error"],
                expected=json.loads(r["expected"]),
            )
            for r in rows
        ]
