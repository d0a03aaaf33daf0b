"""Starting a run in Temporal: the start request itself, and what guards it.

Every way a run begins (api/run_service/starts.py) ends here: the key's concurrent-run limit
(counted in Temporal, so every API process sees the same number), the run's id (fixed by an
Idempotency-Key, so a retried request finds the run it started), and a start Temporal has not
taken within a read's timeout told apart as an outage (a 503 in seconds) or a slow server (a
second, longer try).
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode
from ulid import ULID

from aios import search_attributes as sa
from aios import telemetry
from aios.errors import Conflict, RateLimited
from aios.models import AgentRunInput
from aios.temporal import AGENT_RUN_ID_PREFIX
from aios.vocabulary import RunStatus
from aios.wire import RunCreated, RunLinks
from api.deps import Principal
from api.run_service.core import RunCore
from api.temporal_reads import UNREACHABLE, quoted, read_within, status_of, unavailable
from workflows.agent_run import AgentRunWorkflow


class RunLaunch(RunCore):
    """The start of a run's workflow, under the key's limit and the Idempotency-Key's rule."""

    async def _start_workflow(
        self,
        principal: Principal,
        run_input: AgentRunInput,
        run_id: str,
        *,
        memo: dict[str, Any],
        summary: str,
    ) -> WorkflowHandle[Any, Any]:
        await self._check_concurrency(principal, run_input.user_id)

        async def start(timeout_s: float) -> WorkflowHandle[Any, Any]:
            # wait_for as well as rpc_timeout: the client retries a refused connection with its
            # own backoff, past the RPC's deadline (~9.5 s for a 1 s deadline here).
            start = self.temporal.start_workflow(
                AgentRunWorkflow.run,
                run_input,
                id=run_id,
                task_queue=self.settings.task_queue,
                # With an Idempotency-Key the id is fixed: a retried POST finds the run it
                # started, running or finished, and never starts a second one.
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=sa.owned_by(
                    principal.tenant, run_input.user_id, RunStatus.QUEUED
                ),
                memo=memo,
                static_summary=summary[:400],
                rpc_timeout=timedelta(seconds=timeout_s),
            )
            return await asyncio.wait_for(start, timeout_s)

        # A start that Temporal has not taken within a read's timeout: the server is down, or
        # slow under load. A health check (which fails at once when the server is down) tells
        # which, so an outage is a 503 in seconds, while a slow server gets a second, longer try.
        # A second try that finds the run started is the first try's: the caller answers with it.
        try:
            handle = await start(self.settings.read_timeout_s)
        except (*UNREACHABLE, TimeoutError) as e:
            if not _timed_out(e) or not await self._temporal_answers():
                raise unavailable(self.settings, "the run", e) from e
            try:
                handle = await start(self.settings.read_timeout_s * 2)
            except (*UNREACHABLE, TimeoutError) as again:
                raise unavailable(self.settings, "the run", again) from again
        telemetry.RUNS_STARTED.labels(principal.tenant).inc()
        return handle

    async def _temporal_answers(self) -> bool:
        """Whether the Temporal frontend answers a health check within a second."""
        try:
            return await self.temporal.service_client.check_health(timeout=timedelta(seconds=1))
        except UNREACHABLE:
            return False

    async def _check_concurrency(self, principal: Principal, user_id: str) -> None:
        """At most the key's `max_concurrent_runs` runs of this user running at once, however
        they were started (counted in Temporal, so every API process sees the same number)."""
        limit = principal.max_concurrent_runs
        if limit is None:
            return
        query = (
            f"WorkflowType = '{AgentRunWorkflow.__name__}' AND ExecutionStatus = 'Running'"
            f" AND {sa.TENANT.name} = {quoted(principal.tenant)}"
            f" AND {sa.USER.name} = {quoted(user_id)}"
        )
        counted = await read_within(
            self.settings, self.temporal.count_workflows(query), "the running runs"
        )
        if counted.count >= limit:
            raise RateLimited(
                f"this key may have {limit} runs running at once; wait for one to finish",
                retry_after=self.settings.retry_after_s,
                details={"limit": "concurrent_runs"},
            )

    async def _existing_run(self, run_id: str, fingerprint: str, links: RunLinks) -> RunCreated:
        """The run an Idempotency-Key already started, if it was started by the same request."""
        handle = self.temporal.get_workflow_handle(run_id)
        description = await read_within(self.settings, handle.describe(), run_id)
        memo = await description.memo()
        if memo.get("request_sha256", fingerprint) != fingerprint:
            raise Conflict(
                "this Idempotency-Key was already used for a different request (run "
                f"{run_id}); use a new key for a new request"
            )
        status = status_of(description.status, description.typed_search_attributes.get(sa.STATUS))
        return RunCreated(run_id=run_id, status=status, links=links)


def _timed_out(error: BaseException) -> bool:
    """A Temporal call that ran out of time or found the server unavailable: one a slow server
    may still take (any other refusal is final)."""
    if isinstance(error, TimeoutError):
        return True
    return isinstance(error, RPCError) and error.status in (
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.UNAVAILABLE,
    )


def run_id_for(tenant: str, idempotency_key: str | None) -> str:
    """A new run's id: a fresh one, or the one the tenant's Idempotency-Key fixes."""
    if idempotency_key is None:
        return f"{AGENT_RUN_ID_PREFIX}{str(ULID()).lower()}"
    digest = hashlib.sha256(f"{tenant}\0{idempotency_key}".encode()).hexdigest()[:26]
    return f"{AGENT_RUN_ID_PREFIX}{digest}"
