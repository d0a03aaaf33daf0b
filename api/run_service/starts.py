"""Every way a run begins: the checks a start makes, in one order, and the input they build.

`POST /v1/runs` (`start`, and `prepare` for an eval's rows), `POST /v1/skills/{name}/runs`
(`start_skill`), `POST /v1/tools/{name}/invoke` (`invoke_tool`, a one-step run) and a schedule's
runs (`scheduled_start`, started by Temporal) all check the goal's guardrails, the planning that
needs no model, who the run may be for and the pins it names before anything starts; the start
itself is `RunLaunch`'s (api/run_service/launch.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pydantic
from temporalio.client import ScheduleActionStartWorkflow, WorkflowFailureError
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.planning_rules import check_run_request
from aios import search_attributes as sa
from aios.config import BUNDLED_MODEL
from aios.errors import (
    AiosError,
    Conflict,
    Forbidden,
    NotFound,
    ValidationFailed,
    describe_field_errors,
)
from aios.guardrails import Finding
from aios.models import AgentRunInput, PlanningResult, StepOutputQuery
from aios.plan import Plan
from aios.stores.approval_policies import check_plan_approvers
from aios.stores.memory import ConversationStore
from aios.temporal import AGENT_RUN_ID_PREFIX
from aios.vocabulary import PlannerName, RunStatus
from aios.wire import CreateRun, Invoked, RunCreated, RunLinks, StartSkill
from api.authz import sees_all_users
from api.deps import Principal
from api.goals import checked_goal
from api.run_approvals import Outcome
from api.run_service.launch import RunLaunch, run_id_for
from workflows.agent_run import CURRENT_PATCHES, AgentRunWorkflow

# The step of a direct tool invocation (a one-step run).
INVOKE_STEP = "invoke"
# How long a direct tool invocation is waited for before the caller gets the run to follow.
INVOKE_WAIT_S = 60.0


class ToolFailed(AiosError):
    http_status = 502
    code = "tool_failed"


class RunStarts(RunLaunch):
    """Starting runs: every check in one order, then the workflow's start."""

    def links(self, base_url: str, run_id: str) -> RunLinks:
        base = base_url.rstrip("/")
        namespace = self.settings.temporal_namespace
        return RunLinks(
            self=f"{base}/v1/runs/{run_id}",
            events=f"{base}/v1/runs/{run_id}/events",
            temporal_ui=f"{self.settings.temporal_web_url}/namespaces/{namespace}/workflows/{run_id}",
        )

    async def start(
        self,
        principal: Principal,
        request: CreateRun,
        *,
        base_url: str,
        idempotency_key: str | None = None,
    ) -> RunCreated:
        """Start a run (202 at the API): refused with a 4xx before anything starts when the goal,
        the plan, the skill, the user or the key's limit says no. With an Idempotency-Key a
        retried request finds the run it started."""
        run_input = await self.prepare(principal, request)
        goal = run_input.goal
        run_id = run_id_for(principal.tenant, idempotency_key)
        links = self.links(base_url, run_id)
        fingerprint = request.fingerprint()
        try:
            await self._start_workflow(
                principal,
                run_input,
                run_id,
                memo={"goal": goal[:2000], "request_sha256": fingerprint},
                summary=goal,
            )
        except WorkflowAlreadyStartedError:
            # The run an Idempotency-Key started before, or (a fresh id) this request's own
            # first try, which timed out after the server had taken it (_start_workflow).
            return await self._existing_run(run_id, fingerprint, links)
        return RunCreated(run_id=run_id, status=RunStatus.QUEUED, links=links)

    async def prepare(self, principal: Principal, request: CreateRun) -> AgentRunInput:
        """The input of the run `request` asks for, every check made (4xx when one says no):
        what `start` starts, and what an eval runs for each of its rows."""
        goal, input_findings = checked_goal(request.goal, self.settings)
        # Every pin resolved now (an unknown version is a 422); a pinned skill plans from its
        # stored version.
        versions, skills = await self.versions.resolve(
            principal.tenant, request.versions, request.skill
        )
        # The planning that needs no model (a client's plan, the rule planner's) is done now: a
        # bad request never becomes a failed run, and the run starts with its plan. The LLM
        # planner's checks are made here too; the run writes that plan itself.
        planning = check_run_request(
            self.registry,
            skills,
            goal=goal,
            planner=request.planner,
            skill=request.skill,
            inputs=request.inputs,
            plan=request.plan,
            roles=sorted(principal.roles),
            bundled_model=self.settings.model_fast == BUNDLED_MODEL,
            tenant=principal.tenant,
        )
        if planning is not None:  # approvers named by role or group must exist (else 422)
            await check_plan_approvers(self.pool, self.registry, principal.tenant, planning.plan)
            if planning.skill is not None and planning.skill != versions.skill:
                # The rule planner picked the skill by its triggers: its pins hold too.
                versions = await self.versions.for_skill(principal.tenant, versions, planning.skill)
        user_id = request.user_id or principal.user_id
        if user_id != principal.user_id and not sees_all_users(principal):
            raise Forbidden(
                "only admin and operator keys may start runs for another user_id; this key is "
                f"{principal.user_id!r}'s"
            )
        if request.session_id is not None and await ConversationStore(self.pool).has_other_user(
            principal.tenant, request.session_id, user_id
        ):
            # As for chat: nobody's run reads (or adds to) a colleague's conversation.
            raise NotFound(f"no session {request.session_id!r} of user {user_id!r}")
        run_input = self._run_input(
            principal, request, goal, input_findings, planning, user_id=user_id
        )
        run_input.versions = versions
        return run_input

    async def start_skill(
        self,
        principal: Principal,
        name: str,
        request: StartSkill,
        *,
        base_url: str,
        idempotency_key: str | None = None,
    ) -> RunCreated:
        """A skill as a run: the rule planner with the skill named, the goal from its inputs."""
        skill = self.skills.get(name)  # NotFound names the known skills
        goal = request.goal or skill.goal_for(skill.complete_inputs(request.inputs))
        run = CreateRun(
            goal=goal,
            skill=name,
            inputs=request.inputs,
            planner=PlannerName.RULE,
            user_id=request.user_id,
            session_id=request.session_id,
            budget_usd=request.budget_usd,
            cache=request.cache,
            review=request.review,
        )
        return await self.start(principal, run, base_url=base_url, idempotency_key=idempotency_key)

    async def invoke_tool(
        self, principal: Principal, name: str, args: dict[str, Any]
    ) -> tuple[Invoked, Outcome]:
        """One tool under its policy, as a one-step run (so it gets a run's timeout, retries,
        idempotency key, events and audit trail). Final when the tool answered within
        `INVOKE_WAIT_S`; otherwise the run to follow."""
        tool = self.registry.get(name)  # NotFound (404) names the known tools
        if not tool.allows(principal.roles):
            raise NotFound(f"unknown tool {name!r}")
        if tool.requires_approval:
            raise Conflict(
                f"the tool {name!r} requires approval: start a run with a `tool` step instead "
                "(POST /v1/runs with a plan), where a reviewer can approve the call"
            )
        try:
            tool.args_model.model_validate(args)
        except pydantic.ValidationError as e:
            raise ValidationFailed(
                f"invalid arguments for tool {name!r}: {describe_field_errors(e.errors())}"
            ) from None
        plan = Plan.model_validate(
            {
                "steps": [
                    {
                        "id": INVOKE_STEP,
                        "kind": "tool",
                        "tool": name,
                        "args": args,
                        "timeout_s": tool.timeout_s,
                    }
                ]
            }
        )
        goal = f"invoke {name}"
        run_input = self._run_input(
            principal, CreateRun(goal=goal, plan=plan), goal, [], None, user_id=principal.user_id
        )
        run_id = run_id_for(principal.tenant, None)
        handle = await self._start_workflow(
            principal, run_input, run_id, memo={"goal": goal}, summary=f"invoke tool {name}"
        )
        try:
            await asyncio.wait_for(asyncio.shield(handle.result()), INVOKE_WAIT_S)
        except TimeoutError:
            return Invoked(run_id=run_id, status=RunStatus.RUNNING), Outcome(final=False)
        except WorkflowFailureError:
            state = await handle.query(AgentRunWorkflow.state)
            raise ToolFailed(
                f"the tool {name!r} failed: {state.error or 'see the run'} (run {run_id})"
            ) from None
        output = await handle.query(
            AgentRunWorkflow.step_output, StepOutputQuery(step_id=INVOKE_STEP)
        )
        return (
            Invoked(output=output.output, run_id=run_id, status=RunStatus.COMPLETED),
            Outcome(final=True),
        )

    def scheduled_start(
        self,
        principal: Principal,
        schedule_id: str,
        *,
        goal: str,
        skill: str | None,
        inputs: dict[str, Any],
    ) -> tuple[ScheduleActionStartWorkflow, str]:
        """What a schedule starts each time, and the goal as checked: the run a `POST /v1/runs`
        with this goal would start, checked now (a bad goal is a 422 at the request, never a
        failed run later)."""
        checked, input_findings = checked_goal(goal, self.settings)
        check_run_request(
            self.registry,
            self.skills,
            goal=goal,
            planner=PlannerName.HYBRID,
            skill=skill,
            inputs=inputs,
            plan=None,
            roles=sorted(principal.roles),
            tenant=principal.tenant,
        )
        run_input = self._run_input(
            principal,
            CreateRun(goal=goal, skill=skill, inputs=inputs),
            checked,
            input_findings,
            None,
            user_id=principal.user_id,
        )
        run_input.schedule_id = schedule_id
        action = ScheduleActionStartWorkflow(
            AgentRunWorkflow.run,
            run_input,
            # Temporal appends the scheduled time, so every run has its own id.
            id=f"{AGENT_RUN_ID_PREFIX}{schedule_id}",
            task_queue=self.settings.task_queue,
            typed_search_attributes=sa.owned_by(
                principal.tenant, principal.user_id, RunStatus.QUEUED
            ),
            memo={"goal": checked[:2000]},
            static_summary=checked[:400],
        )
        return action, checked

    def _run_input(
        self,
        principal: Principal,
        request: CreateRun,
        goal: str,
        input_findings: list[Finding],
        planning: PlanningResult | None,
        *,
        user_id: str,
    ) -> AgentRunInput:
        return AgentRunInput(
            patches=CURRENT_PATCHES,
            goal=goal,
            input_findings=input_findings,
            tenant=principal.tenant,
            user_id=user_id,
            session_id=request.session_id,
            roles=sorted(principal.roles),
            skill=request.skill,
            inputs=request.inputs,
            planner=request.planner,
            # Once in the input: `planning` holds the checked plan when there is one.
            plan=request.plan if planning is None else None,
            budget_usd=request.budget_usd,
            max_tokens=request.max_tokens,
            max_steps=request.max_steps,
            max_replans=request.max_replans,
            cache=request.cache,
            review=request.review,
            activity_queues=self.settings.activity_queues(),
            planning=planning,
            key_id=principal.key_id,
        )
