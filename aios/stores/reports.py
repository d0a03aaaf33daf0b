"""Reports published by the `publish_report` tool."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class PublishedReport:
    id: str
    tenant: str
    run_id: str
    title: str
    body: str
    idempotency_key: str


class ReportStore:
    @staticmethod
    async def insert(conn: asyncpg.Connection, report: PublishedReport) -> None:
        """Insert on `conn`, so the caller can make it part of a larger transaction (the tool
        effect's record, see `ToolEffectStore.once`)."""
        await conn.execute(
            "INSERT INTO published_reports (id, tenant, run_id, title, body, idempotency_key)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            report.id,
            report.tenant,
            report.run_id,
            report.title,
            report.body,
            report.idempotency_key,
        )
