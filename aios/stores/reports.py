"""Reports: one per report run (saved when the run finishes) or per published report
(`publish_report`), readable through `GET /v1/reports`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from aios.db import transient_on_connection_loss


def report_id_for(run_id: str) -> str:
    """A run has at most one report, so its id follows from the run's."""
    return "rpt-" + run_id.removeprefix("run-")


@dataclass(frozen=True)
class Report:
    id: str
    tenant: str
    run_id: str
    user_id: str
    title: str
    markdown: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    created_at: datetime | None = None
    published_at: datetime | None = None


def _report(row: asyncpg.Record) -> Report:
    return Report(
        id=row["id"],
        tenant=row["tenant"],
        run_id=row["run_id"],
        user_id=row["user_id"],
        title=row["title"],
        markdown=row["markdown"],
        citations=json.loads(row["citations"]),
        created_at=row["created_at"],
        published_at=row["published_at"],
    )


_COLUMNS = "id, tenant, run_id, user_id, title, markdown, citations, created_at, published_at"


class ReportStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @staticmethod
    async def publish(conn: asyncpg.Connection, report: Report) -> None:
        """The report `publish_report` was approved to publish, on `conn` (so that it is part of
        the tool effect's transaction, see `ToolEffectStore.once`): the run's report takes the
        approved title and text and is marked published."""
        await conn.execute(
            f"INSERT INTO reports ({_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, now(), now())"
            " ON CONFLICT (tenant, run_id) DO UPDATE SET title = EXCLUDED.title,"
            " markdown = EXCLUDED.markdown, published_at = now()",
            report.id,
            report.tenant,
            report.run_id,
            report.user_id,
            report.title,
            report.markdown,
            json.dumps(report.citations),
        )

    @transient_on_connection_loss
    async def save_run_report(self, report: Report) -> None:
        """The report of a finished run. A report already published for the run keeps the text
        that was approved and gains the run's citations; a retried save changes nothing."""
        await self._pool.execute(
            f"INSERT INTO reports ({_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, now(), NULL)"
            " ON CONFLICT (tenant, run_id) DO UPDATE SET citations = EXCLUDED.citations",
            report.id,
            report.tenant,
            report.run_id,
            report.user_id,
            report.title,
            report.markdown,
            json.dumps(report.citations),
        )

    @transient_on_connection_loss
    async def get(self, tenant: str, report_id: str) -> Report | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM reports WHERE tenant = $1 AND id = $2", tenant, report_id
        )
        return _report(row) if row is not None else None

    @transient_on_connection_loss
    async def list(
        self,
        tenant: str,
        *,
        user_id: str | None,
        limit: int,
        before: tuple[datetime, str] | None = None,
    ) -> list[Report]:
        """Newest first; `user_id` None: every user's; `before`: the page after that
        (created_at, id)."""
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM reports WHERE tenant = $1"
            " AND ($2::text IS NULL OR user_id = $2)"
            " AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))"
            " ORDER BY created_at DESC, id DESC LIMIT $5",
            tenant,
            user_id,
            before[0] if before else None,
            before[1] if before else "",
            limit,
        )
        return [_report(r) for r in rows]


class DeliveryStore:
    """Which destinations took which version of a report (`report_deliveries`): each is written
    on its own connection the moment the destination took it, so that it survives the publishing
    transaction being rolled back by a later destination's failure."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def delivered(
        self, tenant: str, report_id: str, destination: str, digest: str
    ) -> dict[str, Any] | None:
        """The record of an earlier delivery of this version to this destination, if any."""
        detail = await self._pool.fetchval(
            "SELECT detail FROM report_deliveries WHERE tenant = $1 AND report_id = $2"
            " AND destination = $3 AND digest = $4",
            tenant,
            report_id,
            destination,
            digest,
        )
        return json.loads(detail) if detail is not None else None

    @transient_on_connection_loss
    async def record(
        self, tenant: str, report_id: str, destination: str, digest: str, detail: dict[str, Any]
    ) -> None:
        await self._pool.execute(
            "INSERT INTO report_deliveries (tenant, report_id, destination, digest, detail)"
            " VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT DO NOTHING",
            tenant,
            report_id,
            destination,
            digest,
            json.dumps(detail),
        )
