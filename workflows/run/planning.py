"""Planning an agent run: the planner's plan (an activity), and revisions after a failed step.

A plan given by the client, or the rule planner's, involves no model: it is checked by a local
activity in the worker that runs the workflow. A plan made before the run started (the API's
pre-planning) is used as it is.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from aios.models import AgentRunInput, PlanningInput, PlanningResult, StepState
    from aios.plan import Plan
    from aios.queues import queue_for
    from aios.vocabulary import Activity, PlannerName, RunEventType, StepStatus

from workflows.dag import RunFailed
from workflows.patches import LEAN_PATCH, PLANNED_VERSIONS_PATCH, RunPatches
from workflows.run.calls import failure_reason, stop_if_over_budget
from workflows.run.journal import RunJournal

PLANNING_TIMEOUT = timedelta(minutes=5)
# Checking a plan given by the client, or the rule planner's: no model call, milliseconds.
LOCAL_PLANNING_TIMEOUT = timedelta(seconds=30)
# A rationale names what a fitted prompt cut; the events keep a readable share of it.
MAX_RATIONALE_CHARS = 1_000


class RunPlanner:
    def __init__(self, journal: RunJournal, patches: RunPatches) -> None:
        self._journal = journal
        self._patches = patches

    async def plan(
        self,
        run: AgentRunInput,
        *,
        failed_step: str | None = None,
        failure: str | None = None,
        completed: list[str] | None = None,
    ) -> PlanningResult:
        """The run's plan, or (with `failed_step`) a revision of it for the remaining work."""
        if failed_step is None and run.planning is not None:
            return run.planning  # planned before the run started
        request = PlanningInput(
            goal=run.goal,
            planner=run.planner,
            skill=run.skill,
            inputs=run.inputs,
            tenant=run.tenant,
            user_id=run.user_id,
            roles=run.roles,
            plan=None if failed_step else run.plan,
            budget=self._journal.budget(run),
            failed_step=failed_step,
            failure=failure,
            completed=completed or [],
            versions=run.versions,
            cache=run.cache,
        )
        summary = "revise the plan" if failed_step else "plan the run"
        # No model involved (a plan to check, or the rule planner): a local activity.
        checks_only = failed_step is None and (
            run.plan is not None or run.planner == PlannerName.RULE
        )
        try:
            planning: PlanningResult
            if checks_only and self._patches.has(LEAN_PATCH):
                planning = await workflow.execute_local_activity(
                    Activity.PLAN_RUN,
                    request,
                    result_type=PlanningResult,
                    start_to_close_timeout=LOCAL_PLANNING_TIMEOUT,
                    retry_policy=RetryPolicy(maximum_attempts=3),
                    summary=summary,
                )
            else:
                planning = await workflow.execute_activity(
                    Activity.PLAN_RUN,
                    request,
                    result_type=PlanningResult,
                    task_queue=queue_for(Activity.PLAN_RUN, run.activity_queues),
                    start_to_close_timeout=PLANNING_TIMEOUT,
                    retry_policy=RetryPolicy(maximum_attempts=3),
                    summary=summary,
                )
            return planning
        except (ActivityError, ApplicationError) as e:
            stop_if_over_budget(e)
            raise RunFailed(f"planning failed: {failure_reason(e)}") from None

    def adopt(self, run: AgentRunInput, planning: PlanningResult) -> Plan:
        """Take the first plan into the run's state (its steps, what it cost)."""
        journal = self._journal
        state = journal.state
        plan = planning.plan
        state.usage += planning.usage
        if planning.versions is not None and self._patches.has(PLANNED_VERSIONS_PATCH):
            # Resolved by the planning activity (a scheduled run's, a skill's child run's, a
            # skill picked by the planner): the run's steps use them and its state records them.
            run.versions = planning.versions
            state.versions = planning.versions
        if run.max_steps is not None and len(plan.steps) > run.max_steps:
            raise RunFailed(
                f"the plan has {len(plan.steps)} steps, more than max_steps={run.max_steps}"
            )
        state.plan = [
            StepState(id=s.id, kind=s.kind, title=s.title, depends_on=list(s.depends_on))
            for s in plan.steps
        ]
        journal.emit(
            RunEventType.PLAN_READY,
            None,
            {
                "planner": planning.planner,
                "steps": [s.id for s in plan.steps],
                # Why this plan (a fallback's reason, what the fitted prompt left out): the
                # trace and the run's events show it to whoever wonders why the run went so.
                "rationale": planning.rationale[:MAX_RATIONALE_CHARS],
            },
        )
        journal.refresh_details()
        return plan

    async def replan(self, run: AgentRunInput, plan: Plan, failure: RunFailed) -> Plan:
        """A revised plan for the remaining work after `failure`: completed steps stay (their
        outputs can be referenced), the rest of the old plan is skipped, the new steps run."""
        journal = self._journal
        state = journal.state
        completed = [s.id for s in state.plan if s.status == StepStatus.COMPLETED]
        revision = await self.plan(
            run, failed_step=failure.step_id, failure=failure.reason, completed=completed
        )
        state.usage += revision.usage
        for step in state.plan:
            if step.status == StepStatus.PENDING:
                step.status = StepStatus.SKIPPED
                step.error = "replaced by a revised plan"
        known = {s.id for s in plan.steps}
        new_steps = [s for s in revision.plan.steps if s.id not in known]
        state.plan += [
            StepState(id=s.id, kind=s.kind, title=s.title, depends_on=list(s.depends_on))
            for s in new_steps
        ]
        merged = Plan(steps=[*plan.steps, *new_steps], result_step=revision.plan.result_step_id)
        journal.emit(
            RunEventType.PLAN_REVISED,
            failure.step_id,
            {
                "reason": failure.reason,
                "planner": revision.planner,
                "steps": [s.id for s in new_steps],
                "rationale": revision.rationale[:MAX_RATIONALE_CHARS],
            },
        )
        journal.refresh_details()
        return merged
