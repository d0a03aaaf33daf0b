"""`SkillWorkflow`: a skill run as a child of another run (a plan's `skill` step).

The same workflow as an agent run, under its own type so the Temporal UI and filters tell them
apart. It lives in its own module so that the sandbox, which imports a workflow's module afresh
for every run, defines it only for skill runs and not for every agent run as well.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from aios.models import AgentRunInput, RunState

from workflows.agent_run import SKILL_WORKFLOW, AgentRunWorkflow


@workflow.defn(name=SKILL_WORKFLOW)
class SkillWorkflow(AgentRunWorkflow):
    @workflow.run
    async def run(self, run: AgentRunInput) -> RunState:
        # It tells its parent run when it waits for a person (workflows/run/journal.py).
        self._journal.reports_to_parent = True
        return await super().run(run)
