"""`EvalWorkflow`: a dataset run as one ordinary run per row and variant, scored as they finish.

The rows and their run inputs were written by the API (`POST /v1/evals`, aios/stores/evals.py);
this workflow asks which rows are still pending, runs each as a child `AgentRunWorkflow` (at most
`concurrency` at once) and hands each finished run to the scoring activity, which stores the
row's result. A restarted eval (resumed after a terminate, or re-run after its history was lost)
asks again and runs only the rows not yet scored.

Query `progress`: rows in all, finished, running.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from aios import search_attributes as sa
    from aios.evals import EvalInput, EvalPending, EvalProgress, EvalRowKey, EvalRowOutcome
    from aios.models import AgentRunInput, RunState
    from aios.vocabulary import Activity, RunStatus
    from workflows.run.calls import failure_reason

EVAL_WORKFLOW = "EvalWorkflow"
AGENT_RUN_WORKFLOW = "AgentRunWorkflow"
STORE_RETRY = RetryPolicy(maximum_attempts=10, maximum_interval=timedelta(seconds=30))
STORE_TIMEOUT = timedelta(seconds=60)
# Scoring may ask a judge model: as long as a model call may take.
SCORE_TIMEOUT = timedelta(minutes=5)


@workflow.defn(name=EVAL_WORKFLOW)
class EvalWorkflow:
    def __init__(self) -> None:
        self._progress = EvalProgress(eval_id="")

    @workflow.query
    def progress(self) -> EvalProgress:
        return self._progress

    @workflow.run
    async def run(self, request: EvalInput) -> EvalProgress:
        self._progress = EvalProgress(eval_id=request.eval_id)
        pending: EvalPending = await workflow.execute_activity(
            Activity.EVAL_PENDING,
            request.eval_id,
            result_type=EvalPending,
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
            summary="rows still to run",
        )
        self._progress.total = pending.total
        self._progress.done = pending.done
        gate = asyncio.Semaphore(max(1, request.concurrency))
        await asyncio.gather(*(self._row(key, gate) for key in pending.rows))
        await workflow.execute_activity(
            Activity.EVAL_FINISH,
            request.eval_id,
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
            summary="eval finished",
        )
        return self._progress

    async def _row(self, key: EvalRowKey, gate: asyncio.Semaphore) -> None:
        async with gate:
            self._progress.running += 1
            run_input: AgentRunInput = await workflow.execute_activity(
                Activity.EVAL_ROW_INPUT,
                key,
                result_type=AgentRunInput,
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
                summary=f"row {key.row} ({key.variant})",
            )
            outcome = EvalRowOutcome(key=key)
            try:
                outcome.state = await workflow.execute_child_workflow(
                    AGENT_RUN_WORKFLOW,
                    run_input,
                    result_type=RunState,
                    id=key.run_id,
                    search_attributes=sa.owned_by(key.tenant, key.user_id, RunStatus.QUEUED),
                    static_summary=f"eval {key.eval_id} row {key.row} ({key.variant})"[:400],
                )
            except ChildWorkflowError as e:
                outcome.error = failure_reason(e)
            await workflow.execute_activity(
                Activity.EVAL_SCORE,
                outcome,
                start_to_close_timeout=SCORE_TIMEOUT,
                retry_policy=STORE_RETRY,
                summary=f"score row {key.row} ({key.variant})",
            )
            self._progress.running -= 1
            self._progress.done += 1
