"""Workflow code changed in a way that breaks open runs: registered under an existing workflow's
name, `aios upgrade check` replays their histories against it (tests/workers/test_upgrade.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow


@workflow.defn(name="AgentRunWorkflow")
class ChangedAgentRun:
    @workflow.run
    async def run(self, input: Any) -> None:
        # A timer first, where the recorded runs began with their planning activity.
        await workflow.sleep(timedelta(days=1))
