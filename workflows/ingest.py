"""`IngestWorkflow`: bring files into the knowledge base (load -> chunk -> embed -> index).

Each file is one activity, several at once; a file that fails is reported in the result and does not
stop the others. Re-ingesting an unchanged file is a no-op.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from aios.errors import ValidationFailed, to_application_error
    from aios.models import (
        IngestedDocument,
        IngestFileInput,
        IngestInput,
        IngestResult,
        ListFilesInput,
        ListFilesResult,
    )
    from aios.vocabulary import Activity

PARALLEL_FILES = 4


@workflow.defn
class IngestWorkflow:
    @workflow.run
    async def run(self, request: IngestInput) -> IngestResult:
        if request.urls:
            raise to_application_error(
                ValidationFailed("ingesting URLs is not supported yet; pass files or directories")
            )
        listing = await workflow.execute_activity(
            Activity.LIST_FILES,
            ListFilesInput(paths=request.paths),
            result_type=ListFilesResult,
            start_to_close_timeout=timedelta(minutes=2),
            summary="list files",
        )
        result = IngestResult(errors=list(listing.errors))
        slots = asyncio.Semaphore(PARALLEL_FILES)

        async def one(path: str) -> None:
            async with slots:
                try:
                    doc = await workflow.execute_activity(
                        Activity.INGEST_FILE,
                        IngestFileInput(tenant=request.tenant, path=path),
                        result_type=IngestedDocument,
                        start_to_close_timeout=timedelta(minutes=10),
                        heartbeat_timeout=timedelta(seconds=60),
                        retry_policy=RetryPolicy(maximum_attempts=3),
                        summary=f"ingest {path.rsplit('/', 1)[-1]}",
                    )
                    result.documents.append(doc)
                except ActivityError as e:
                    cause = e.cause
                    message = cause.message if isinstance(cause, ApplicationError) else str(e)
                    result.errors.append(f"{path}: {message}")

        await asyncio.gather(*(one(p) for p in listing.files))
        result.documents.sort(key=lambda d: d.source)
        return result
