"""`aios upgrade check`: before an operator rolls workers, replay the history of every open
workflow in the namespace against the workflow code about to be deployed (this checkout's), and
name each run that would break.

A run pinned to a build (Worker Deployment Versioning, docs/upgrades.md) stays on that build and
is not moved by a roll-out: a replay failure there is shown, but does not fail the check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from temporalio.api.enums.v1 import VersioningBehavior
from temporalio.client import Client

from aios.config import Settings
from workers.main import WORKFLOWS, replayer


@dataclass
class Verdict:
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    # The build the run is pinned to, if it is: a roll-out leaves it there.
    pinned_to: str | None
    # Why the replay failed (None: it replays).
    failure: str | None

    @property
    def breaks(self) -> bool:
        return self.failure is not None and self.pinned_to is None


def open_workflows_query(task_queue: str | None = None, workflow_type: str | None = None) -> str:
    clauses = ['ExecutionStatus = "Running"']
    if task_queue:
        clauses.append(f'TaskQueue = "{task_queue}"')
    if workflow_type:
        clauses.append(f'WorkflowType = "{workflow_type}"')
    return " AND ".join(clauses)


async def check(
    client: Client,
    settings: Settings,
    *,
    task_queue: str | None = None,
    workflow_type: str | None = None,
    limit: int | None = None,
    workflows: Sequence[type] = WORKFLOWS,
) -> list[Verdict]:
    """One verdict per open workflow (up to `limit`), replayed with the worker's own runner,
    interceptors and `client`'s data converter (which reads offloaded payloads back)."""
    replay = replayer(settings, client.data_converter, workflows)
    verdicts: list[Verdict] = []
    query = open_workflows_query(task_queue, workflow_type)
    async for execution in client.list_workflows(query, limit=limit):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        result = await replay.replay_workflow(history, raise_on_replay_failure=False)
        failure = result.replay_failure
        # Listing leaves versioning out; describing the run has it.
        described = await handle.describe()
        versioning = described.raw_description.workflow_execution_info.versioning_info
        pinned = versioning.behavior == VersioningBehavior.VERSIONING_BEHAVIOR_PINNED
        verdicts.append(
            Verdict(
                workflow_id=execution.id,
                run_id=execution.run_id,
                workflow_type=execution.workflow_type,
                task_queue=execution.task_queue,
                pinned_to=(versioning.deployment_version.build_id or "?") if pinned else None,
                failure=f"{type(failure).__name__}: {failure}" if failure is not None else None,
            )
        )
    return verdicts
