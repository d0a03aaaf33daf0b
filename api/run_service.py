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
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import asyncpg
import pydantic
from fastapi import Depends, Request
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from ulid import ULID

from activities.planning import check_run_request
from activities.tools import ToolRegistry
from aios import search_attributes as sa
from aios import telemetry
from aios.config import BUNDLED_MODEL, Settings
from aios.errors import (
    AiosError,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    TransientError,
    ValidationFailed,
    describe_field_errors,
)
from aios.guardrails import Finding
from aios.models import (
    AgentRunInput,
    EventsQuery,
    PlanningResult,
    RunEvent,
    RunState,
    StepOutput,
    StepOutputQuery,
)
from aios.plan import Plan
from aios.skills import SkillCatalog
from aios.stores import RunSnapshotStore
from aios.stores.approval_policies import check_plan_approvers
from aios.stores.deltas import DeltaHub
from aios.stores.memory import ConversationStore
from aios.stores.traces import TraceStore
from aios.temporal import AGENT_RUN_ID_PREFIX
from aios.trace import RunTrace, build_trace
from aios.vocabulary import PlannerName, Role, RunStatus
from aios.wire import (
    CancelAccepted,
    CreateRun,
    Invoked,
    RunCreated,
    RunFilter,
    RunLinks,
    RunList,
    RunSummary,
    StartSkill,
)
from api import page_tokens
from api.authz import (
    has_role,
    may_act_on_run,
    may_read_run,
    sees_all_users,
)
from api.deps import Principal
from api.goals import checked_goal
from api.run_approvals import Access, Outcome, RunApprovals
from api.run_events import event_stream
from api.run_state import current_state
from api.temporal_reads import (
    QUERY_FAILED,
    UNREACHABLE,
    owned_run,
    query_within,
    quoted,
    read_within,
    require_running,
    status_of,
    unavailable,
)
from api.versions import VersionService
from workflows.agent_run import CURRENT_PATCHES, AgentRunWorkflow

# The step of a direct tool invocation (a one-step run).
INVOKE_STEP = "invoke"
# How long a direct tool invocation is waited for before the caller gets the run to follow.
INVOKE_WAIT_S = 60.0


class ToolFailed(AiosError):
    http_status = 502
    code = "tool_failed"


@dataclass
class RunService:
    """Runs, for one API process: built once at start-up over the shared clients."""

    temporal: Client
    settings: Settings
    pool: asyncpg.Pool
    registry: ToolRegistry
    skills: SkillCatalog
    deltas: DeltaHub

    @functools.cached_property
    def versions(self) -> VersionService:
        """Versions of prompts and skills: listing, and resolving a run's pins."""
        return VersionService(self.pool, self.skills)

    @functools.cached_property
    def approvals(self) -> RunApprovals:
        """Answers to runs' approvals, and the inbox of what waits for a caller."""
        return RunApprovals(self)

    # --- starting -------------------------------------------------------------------------

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
        run_id = _run_id_for(principal.tenant, idempotency_key)
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
        run_id = _run_id_for(principal.tenant, None)
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

    # --- reading --------------------------------------------------------------------------

    async def list_runs(
        self,
        principal: Principal,
        which: RunFilter,
        *,
        page_size: int,
        page_token: str | None,
    ) -> RunList:
        clauses = [
            f"WorkflowType = '{AgentRunWorkflow.__name__}'",
            f"{sa.TENANT.name} = {quoted(principal.tenant)}",
        ]
        if which.status is not None:
            clauses.append(f"{sa.STATUS.name} = {quoted(which.status.value)}")
        if which.user_id is not None:
            clauses.append(f"{sa.USER.name} = {quoted(which.user_id)}")
        if which.schedule_id is not None:  # Temporal tags the runs a schedule starts
            clauses.append(f"TemporalScheduledById = {quoted(which.schedule_id)}")
        routing = False
        if not sees_all_users(principal):
            # A user lists their own runs; an approver also those waiting for a decision routed
            # to them (the others are filtered out below).
            own = f"{sa.USER.name} = {quoted(principal.user_id)}"
            routing = await self.approvals.may_be_routed(principal)
            if routing:
                waiting = f"{sa.STATUS.name} = {quoted(RunStatus.AWAITING_APPROVAL.value)}"
                own = f"({own} OR {waiting})"
            clauses.append(own)
        query = " AND ".join(clauses)
        token = page_tokens.unseal(page_token, query) if page_token else None
        iterator = self.temporal.list_workflows(query, page_size=page_size, next_page_token=token)
        try:
            await read_within(self.settings, iterator.fetch_next_page(), "the run list")
        except RPCError as e:  # INVALID_ARGUMENT: a filter Temporal cannot take
            raise ValidationFailed(f"cannot list runs: {e.message}") from None
        page = list(iterator.current_page or [])
        if routing:  # others' waiting runs: only those waiting on the caller (api.authz)
            me = principal.user_id
            others = [e.id for e in page if e.typed_search_attributes.get(sa.USER) != me]
            shown = await self.approvals.routed_ids(principal, others)
            page = [e for e in page if e.id not in others or e.id in shown]
        runs = []
        for execution in page:
            attrs = execution.typed_search_attributes
            memo = await execution.memo()
            runs.append(
                RunSummary(
                    run_id=execution.id,
                    status=status_of(execution.status, attrs.get(sa.STATUS)),
                    goal=str(memo.get("goal", "")),
                    user_id=attrs.get(sa.USER),
                    created_at=execution.start_time,
                    closed_at=execution.close_time,
                )
            )
        next_token = iterator.next_page_token
        return RunList(
            runs=runs, next_page_token=page_tokens.seal(next_token, query) if next_token else None
        )

    async def state(self, principal: Principal, run_id: str, *, wait_s: float = 0) -> RunState:
        """The run's state. With `wait_s`, answered when the run closes or after `wait_s`:
        Temporal's long poll on the close event, so waiting costs the workers nothing."""
        handle, description = await self.run_for(principal, run_id, Access.READ)
        if wait_s > 0 and description.status == WorkflowExecutionStatus.RUNNING:
            result: Any = None
            with contextlib.suppress(TimeoutError, WorkflowFailureError, *UNREACHABLE):
                result = await asyncio.wait_for(
                    handle.result(rpc_timeout=timedelta(seconds=wait_s)), wait_s
                )
            # Completed: the close event's result is the answer `current_state` would read from
            # it again (after a describe): two round trips to Temporal fewer on a waiter's path.
            with contextlib.suppress(ValueError):
                if isinstance(result, RunState):
                    return result
                if result is not None:
                    return RunState.model_validate(result)
            description = await read_within(self.settings, handle.describe(), f"run {run_id}")
        return await current_state(
            self.temporal, handle, description, self.settings, self.snapshots
        )

    async def trace(self, principal: Principal, run_id: str) -> RunTrace:
        handle, description = await self.run_for(principal, run_id, Access.READ)
        if description.status != WorkflowExecutionStatus.RUNNING:
            kept = await TraceStore(self.pool).get(run_id, principal.tenant)
            if kept is not None:
                return kept
        state = await current_state(
            self.temporal, handle, description, self.settings, self.snapshots
        )
        try:
            events = await self.whole_log(handle)
        except QUERY_FAILED as e:
            raise TransientError(
                f"the run's log cannot be read right now ({e})",
                retry_after=self.settings.retry_after_s,
            ) from e
        return build_trace(state, events)

    async def step_output(self, principal: Principal, run_id: str, step_id: str) -> StepOutput:
        handle, _ = await self.run_for(principal, run_id, Access.READ)
        try:
            output: StepOutput = await query_within(
                self.settings,
                handle.query(
                    AgentRunWorkflow.step_output,
                    StepOutputQuery(step_id=step_id),
                    rpc_timeout=timedelta(seconds=self.settings.query_timeout_s),
                ),
            )
        except QUERY_FAILED as e:
            raise TransientError(
                f"the run's outputs cannot be read right now: {e}",
                retry_after=self.settings.retry_after_s,
            ) from e
        if output.status is None:
            raise NotFound(f"run {run_id} has no step {step_id!r}")
        return output

    async def events(self, principal: Principal, run_id: str, after: int) -> AsyncIterator[str]:
        """The run's server-sent events after `after` (the owner is checked before the stream
        opens)."""
        handle, _ = await self.run_for(principal, run_id, Access.READ)
        return event_stream(handle, self.settings, after, self.deltas)

    # --- acting (answers to approvals: `approvals`, api/run_approvals.py) -----------------

    async def cancel(self, principal: Principal, run_id: str) -> CancelAccepted:
        handle, description = await self.run_for(principal, run_id, Access.ACT)
        require_running(description, "it cannot be cancelled")
        # A Temporal cancellation request, as the Web UI's Cancel button sends: the run stops
        # its steps (activities learn of it through their heartbeats) and ends as cancelled.
        await read_within(self.settings, handle.cancel(), "the cancellation")
        return CancelAccepted(run_id=run_id, status="cancelling")

    # --- helpers --------------------------------------------------------------------------

    async def run_for(
        self, principal: Principal, run_id: str, access: Access, *, named: bool = False
    ) -> tuple[WorkflowHandle[Any, Any], WorkflowExecutionDescription]:
        """The run, if the caller may have `access` to it (`api.authz`): 404 when they may not
        see it at all (as for another tenant's), 403 when they see it but may not act on it.
        `named`: an approval policy names the caller for the approval they answer."""
        handle, description = await owned_run(
            self.temporal, self.settings, run_id, principal.tenant
        )
        attrs = description.typed_search_attributes
        owner = attrs.get(sa.USER)
        awaiting = attrs.get(sa.STATUS) == RunStatus.AWAITING_APPROVAL
        visible = may_read_run(principal, owner, False) or (
            access == Access.ANSWER and (named or has_role(principal, Role.APPROVER))
        )
        if not visible and awaiting:  # someone it waits on (an approval routed to them) reads it
            routed = await self.approvals.routed(principal, handle, description)
            visible = may_read_run(principal, owner, routed)
        if not visible:
            raise NotFound(f"no run {run_id!r}")
        if access == Access.ACT and not may_act_on_run(principal, owner):
            raise Forbidden(f"only the run's owner or an operator may change run {run_id}")
        return handle, description

    @property
    def snapshots(self) -> RunSnapshotStore:
        return RunSnapshotStore(self.pool)

    async def whole_log(self, handle: WorkflowHandle[Any, Any]) -> list[RunEvent]:
        """Every event the run keeps (a closed run answers queries too, until retention)."""
        events: list[RunEvent] = await query_within(
            self.settings,
            handle.query(
                AgentRunWorkflow.events,
                EventsQuery(after_seq=0),
                rpc_timeout=timedelta(seconds=self.settings.query_timeout_s),
            ),
        )
        return events


def _timed_out(error: BaseException) -> bool:
    """A Temporal call that ran out of time or found the server unavailable: one a slow server
    may still take (any other refusal is final)."""
    if isinstance(error, TimeoutError):
        return True
    return isinstance(error, RPCError) and error.status in (
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.UNAVAILABLE,
    )


def _run_id_for(tenant: str, idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return f"{AGENT_RUN_ID_PREFIX}{str(ULID()).lower()}"
    digest = hashlib.sha256(f"{tenant}\0{idempotency_key}".encode()).hexdigest()[:26]
    return f"{AGENT_RUN_ID_PREFIX}{digest}"


def _runs(request: Request) -> RunService:
    runs: RunService = request.app.state.runs
    return runs


RunsDep = Annotated[RunService, Depends(_runs)]
