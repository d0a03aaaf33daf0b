"""`IngestWorkflow`: one ingestion job (uploaded files, JSON documents, URLs, SQL rows) brought into
the knowledge base: load -> chunk -> embed -> index.

Documents go to activities in batches (a batch is embedded in one pass, which is what makes
ingestion fast), several batches at once. A document that fails is counted and named in the
progress, and does not stop the others. Progress is the workflow's `progress` query and, so it can
be read with no worker running, its memo; `GET /v1/documents/jobs/{id}` shows it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from aios.models import (
        MAX_REPORTED_ERRORS,
        IngestBatchInput,
        IngestBatchResult,
        IngestInput,
        IngestItem,
        IngestProgress,
        SqlLoadInput,
    )
    from aios.vocabulary import Activity

BATCH_SIZE = 64
PARALLEL_BATCHES = 2
PROGRESS_MEMO = "progress"


def _reason(error: ActivityError) -> str:
    cause = error.cause
    return cause.message if isinstance(cause, ApplicationError) else str(error)


@workflow.defn
class IngestWorkflow:
    def __init__(self) -> None:
        self._progress = IngestProgress()

    @workflow.query
    def progress(self) -> IngestProgress:
        return self._progress

    def _error(self, message: str) -> None:
        if len(self._progress.errors) < MAX_REPORTED_ERRORS:
            self._progress.errors.append(message)

    def _publish(self) -> None:
        workflow.upsert_memo({PROGRESS_MEMO: self._progress.model_dump(mode="json")})

    @workflow.run
    async def run(self, request: IngestInput) -> IngestProgress:
        items = list(request.items)
        self._progress.total = len(items)
        self._progress.status = "running"
        self._publish()
        for source in request.sql:
            try:
                rows: list[IngestItem] = await workflow.execute_activity(
                    Activity.LOAD_SQL_SOURCE,
                    SqlLoadInput(tenant=request.tenant, source=source),
                    result_type=list[IngestItem],
                    start_to_close_timeout=timedelta(minutes=5),
                    retry_policy=RetryPolicy(maximum_attempts=3),
                    summary=f"query {source.database}",
                )
            except ActivityError as e:
                self._progress.failed += 1
                self._progress.total += 1
                self._error(f"sql {source.database}: {_reason(e)}")
                continue
            items += rows
            self._progress.total += len(rows)
        self._publish()

        slots = asyncio.Semaphore(PARALLEL_BATCHES)
        job_id = workflow.info().workflow_id

        async def one(batch: list[IngestItem]) -> None:
            async with slots:
                try:
                    result: IngestBatchResult = await workflow.execute_activity(
                        Activity.INGEST_BATCH,
                        IngestBatchInput(tenant=request.tenant, job_id=job_id, items=batch),
                        result_type=IngestBatchResult,
                        start_to_close_timeout=timedelta(minutes=30),
                        heartbeat_timeout=timedelta(seconds=120),
                        retry_policy=RetryPolicy(maximum_attempts=5),
                        summary=f"ingest {len(batch)} documents",
                    )
                except ActivityError as e:
                    self._progress.failed += len(batch)
                    self._error(f"{len(batch)} documents from {batch[0].source}: {_reason(e)}")
                    return
                for doc in result.documents:
                    if doc.error is not None:
                        self._progress.failed += 1
                        self._error(f"{doc.source}: {doc.error}")
                    else:
                        self._progress.done += 1
                        self._progress.unchanged += int(doc.unchanged)
                        self._progress.chunks += doc.chunks
                self._publish()

        batches = [items[i : i + BATCH_SIZE] for i in range(0, len(items), BATCH_SIZE)]
        await asyncio.gather(*(one(b) for b in batches))
        nothing_ingested = self._progress.total > 0 and self._progress.done == 0
        self._progress.status = "failed" if nothing_ingested else "completed"
        self._publish()
        return self._progress
