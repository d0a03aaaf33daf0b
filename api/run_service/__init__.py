"""The run service: the one place that starts, reads, answers, cancels and streams runs.

Every way a run begins goes through `RunService.start` (`POST /v1/runs`, `POST /v1/skills/{name}/
runs`, `POST /v1/tools/{name}/invoke`, and the MCP tools, which call those routes), so each gets
the same checks in the same order: the goal's guardrails, the planning that needs no model, who
the run may be for, the key's concurrent-run limit, the Idempotency-Key, the search attributes.
A schedule's runs are started by Temporal; `RunService.scheduled_start` builds the same input.
Answers to approvals and the inbox are `RunService.approvals` (api/run_approvals.py), behind the
same access checks (`RunService.run_for`).

Reads go to Temporal with short deadlines (`read_timeout_s`, `query_timeout_s`): an outage is a
503 with `Retry-After` within seconds, never a hang or a 500 (`api.run_state` says how a run's
state is read whatever its worker is doing).

`RunService` is one class made of this package's parts, one module each: `core` (the clients,
the parts, who may have which access to a run), `starts` (every way a run begins, its checks and
input), `launch` (the workflow's start: the concurrent-run limit, the Idempotency-Key, an
outage told from a slow server) and `reads` (listing, state, trace, outputs, events, cancel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from api.run_service.reads import RunReads
from api.run_service.starts import INVOKE_STEP, INVOKE_WAIT_S, RunStarts, ToolFailed

__all__ = ["INVOKE_STEP", "INVOKE_WAIT_S", "RunService", "RunsDep", "ToolFailed"]


@dataclass
class RunService(RunStarts, RunReads):
    """Runs, for one API process: built once at start-up over the shared clients."""


def _runs(request: Request) -> RunService:
    runs: RunService = request.app.state.runs
    return runs


RunsDep = Annotated[RunService, Depends(_runs)]
