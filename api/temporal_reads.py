"""Talking to Temporal from the API with deadlines: an outage is a 503 with `Retry-After` in
seconds, never a hang or a 500 (the client core retries an unreachable server internally past its
`rpc_timeout`, so every call here also has a hard deadline)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from temporalio.client import (
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from aios import search_attributes as sa
from aios.config import Settings
from aios.errors import Conflict, NotFound, TransientError
from aios.temporal import AGENT_RUN_ID_PREFIX
from aios.vocabulary import TERMINAL_STATUSES, RunStatus
from aios.wire import SAFE_VALUE
from api.deps import TemporalDep

# What an unreachable Temporal looks like to the client: an RPC error, or (when the connection
# itself cannot be made) the bridge's RuntimeError "Failed client connect".
UNREACHABLE = (RPCError, RuntimeError)
# A query that could not be answered: no worker, a failing handler, or no Temporal.
QUERY_FAILED = (WorkflowQueryFailedError, TimeoutError, *UNREACHABLE)
T = TypeVar("T")


def quoted(value: str) -> str:
    """A string literal for a visibility query."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def query_within(settings: Settings, call: Awaitable[T]) -> T:
    """A query with a hard deadline: the client retries an unreachable server internally past
    its `rpc_timeout`, and a stream or a poll must not hang on it."""
    return await asyncio.wait_for(call, settings.query_timeout_s + 1)


def unavailable(settings: Settings, what: str, error: BaseException) -> TransientError:
    """A 503 for a Temporal call that could not be made (`what`: "the run", "the message"), with
    when to try again."""
    return TransientError(
        f"Temporal did not take {what}: "
        f"{getattr(error, 'message', None) or str(error) or 'it did not answer in time'}",
        retry_after=settings.retry_after_s,
    )


async def read_within(settings: Settings, call: Awaitable[T], what: str) -> T:
    """A Temporal read with a deadline: an unreachable or overloaded server is a 503 (with
    Retry-After) in seconds. NOT_FOUND and INVALID_ARGUMENT pass through for the caller."""
    try:
        return await asyncio.wait_for(call, settings.read_timeout_s)
    except TimeoutError:
        raise TransientError(
            f"Temporal did not answer {what} within {settings.read_timeout_s:g}s",
            retry_after=settings.retry_after_s,
        ) from None
    except UNREACHABLE as e:
        if isinstance(e, RPCError) and e.status in (
            RPCStatusCode.NOT_FOUND,
            RPCStatusCode.INVALID_ARGUMENT,
        ):
            raise
        raise TransientError(
            f"Temporal did not answer {what}: {getattr(e, 'message', e)}",
            retry_after=settings.retry_after_s,
        ) from e


async def owned_run(
    temporal: TemporalDep, settings: Settings, run_id: str, tenant: str
) -> tuple[WorkflowHandle[Any, Any], WorkflowExecutionDescription]:
    """The run's handle, or 404 when it does not exist or belongs to another tenant (the same
    answer, so run ids of other tenants cannot be probed)."""
    return await owned_workflow(temporal, settings, run_id, tenant, AGENT_RUN_ID_PREFIX, "run")


async def owned_workflow(
    temporal: TemporalDep,
    settings: Settings,
    workflow_id: str,
    tenant: str,
    prefix: str,
    noun: str,
) -> tuple[WorkflowHandle[Any, Any], WorkflowExecutionDescription]:
    """A workflow AIOS started for `tenant` (a run, an ingestion job): its handle and
    description, or 404 alike for an unknown id, a foreign one, or one of another tenant."""
    if not workflow_id.startswith(prefix) or not SAFE_VALUE.match(workflow_id):
        raise NotFound(f"no {noun} {workflow_id!r}")
    handle = temporal.get_workflow_handle(workflow_id)
    try:
        description = await read_within(settings, handle.describe(), f"about {noun} {workflow_id}")
    except RPCError as e:  # NOT_FOUND or INVALID_ARGUMENT: no such workflow either way
        raise NotFound(f"no {noun} {workflow_id!r}") from e
    if description.typed_search_attributes.get(sa.TENANT) != tenant:
        raise NotFound(f"no {noun} {workflow_id!r}")
    return handle, description


def require_running(description: WorkflowExecutionDescription, consequence: str) -> None:
    if description.status != WorkflowExecutionStatus.RUNNING:
        raise Conflict(f"run {description.id} has already ended; {consequence}")


CLOSED_STATUS: dict[WorkflowExecutionStatus, RunStatus] = {
    WorkflowExecutionStatus.COMPLETED: RunStatus.COMPLETED,
    WorkflowExecutionStatus.FAILED: RunStatus.FAILED,
    WorkflowExecutionStatus.CANCELED: RunStatus.CANCELLED,
    WorkflowExecutionStatus.TERMINATED: RunStatus.FAILED,
    WorkflowExecutionStatus.TIMED_OUT: RunStatus.TIMED_OUT,
}


def status_of(temporal_status: WorkflowExecutionStatus | None, recorded: str | None) -> RunStatus:
    """The run's own status, unless Temporal ended it from outside (terminate, timeout). A run
    whose workflow is still open is not ended yet, whatever it has recorded: it reads as ended
    once Temporal says it has closed."""
    closed = CLOSED_STATUS.get(temporal_status) if temporal_status else None
    known = RunStatus(recorded) if recorded in set(RunStatus) else None
    if known in TERMINAL_STATUSES:
        return known if temporal_status != WorkflowExecutionStatus.RUNNING else RunStatus.RUNNING
    return closed or known or RunStatus.QUEUED
