"""Answers to runs' approvals: the inbox of what waits for a caller, and the answer itself.

Part of the run service (`RunService.approvals`), reached only through it, so an answer passes the
same access checks as every other use of a run (`RunService.run_for`). Four eyes and approval
policies (`api.authz`, `aios.approval_policies`) decide who may answer; an answer no worker takes
in time is recorded durably as the run's `approve` signal, and never two contradictory ones.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import asyncpg
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from aios import search_attributes as sa
from aios.approval_policies import DEV_TENANT, DEV_USER, dev_self_approval, load_repo_policies
from aios.approvals import may_answer, named_by_policy
from aios.config import Settings
from aios.errors import Conflict, NotFound, TransientError
from aios.models import ApprovalAck, ApprovalDecision, RunEvent
from aios.stores import RunSnapshotStore
from aios.stores.approval_policies import PolicyStore
from aios.stores.traces import TraceStore
from aios.vocabulary import Role, RunEventType, RunStatus
from aios.wire import ApprovalBody, Inbox, InboxItem
from api.authz import has_role, require_approver, routed_to
from api.deps import Principal
from api.run_state import approval_error, check_against_last_known, current_state
from api.temporal_reads import (
    QUERY_FAILED,
    UNREACHABLE,
    owned_run,
    quoted,
    read_within,
    require_running,
)
from workflows.agent_run import SKILL_WORKFLOW, AgentRunWorkflow


class RunParts(Protocol):
    """What the approvals need of the run service (api/run_service/): its connections. A
    protocol, so this module does not import the service that builds it."""

    temporal: Client
    settings: Settings
    pool: asyncpg.Pool

    @property
    def snapshots(self) -> RunSnapshotStore: ...

    async def run_for(
        self, principal: Principal, run_id: str, access: Access, *, named: bool = False
    ) -> tuple[WorkflowHandle[Any, Any], WorkflowExecutionDescription]: ...

    async def whole_log(self, handle: WorkflowHandle[Any, Any]) -> list[RunEvent]: ...


# The name of the run's `approve` signal (the durable answer when no worker can take the update).
SIGNAL_APPROVE = "approve"
# What an inbox item shows of a pending approval.
INBOX_APPROVAL_FIELDS = {
    "approval_id",
    "step_id",
    "reason",
    "args",
    "about",
    "args_hash",
    "requested_at",
    "expires_at",
    "untrusted_sources",
    "approvals_required",
    "approved_by",
    "approvers",
    "policy",
    "self_approval",
    "self_approval_policy",
}


class Access(StrEnum):
    """What a caller wants with a run (`RunService.run_for`)."""

    READ = "read"
    ACT = "act"
    ANSWER = "answer"


@dataclass(frozen=True)
class Outcome:
    """What a tool invocation or an approval answer came to, and whether it is final (200) or
    accepted to be finished later (202)."""

    final: bool


# How deep a run's skill-step children are looked into for an approval routed to a reader.
CHILD_DEPTH = 3


@dataclass
class RunApprovals:
    """The approvals of the runs one API process serves (built by `RunService.approvals`)."""

    runs: RunParts

    async def may_be_routed(self, principal: Principal) -> bool:
        """Whether any approval could be routed to the caller: they hold the approver role, or
        the tenant (or the repository) has approval policies that might name them."""
        if has_role(principal, Role.APPROVER):
            return True
        if load_repo_policies(self.runs.settings.approval_policies_file):
            return True
        return bool(await PolicyStore(self.runs.pool).count(principal.tenant))

    async def routed(
        self,
        principal: Principal,
        handle: WorkflowHandle[Any, Any],
        description: WorkflowExecutionDescription,
    ) -> bool:
        """Whether the run waits on an approval routed to the caller (`api.authz.routed_to`):
        one of its own pending approvals, or one of a skill step's child run that it waits for
        (the parent shows `awaiting_approval` meanwhile). What lets a reader who is neither the
        run's owner nor an operator see it."""
        if description.typed_search_attributes.get(sa.STATUS) != RunStatus.AWAITING_APPROVAL:
            return False
        if not await self.may_be_routed(principal):
            return False
        groups = await PolicyStore(self.runs.pool).groups_of(principal.tenant, principal.user_id)
        return await self._waits_on(principal, groups, handle, description, CHILD_DEPTH)

    async def routed_ids(self, principal: Principal, run_ids: list[str]) -> set[str]:
        """Those of `run_ids` (of the caller's tenant) that wait on an approval routed to the
        caller; a run that cannot be read now counts as not routed."""
        if not run_ids or not await self.may_be_routed(principal):
            return set()
        groups = await PolicyStore(self.runs.pool).groups_of(principal.tenant, principal.user_id)
        gate = asyncio.Semaphore(8)

        async def one(run_id: str) -> str | None:
            async with gate:
                try:
                    handle, description = await owned_run(
                        self.runs.temporal, self.runs.settings, run_id, principal.tenant
                    )
                    waits = await self._waits_on(
                        principal, groups, handle, description, CHILD_DEPTH
                    )
                except (NotFound, TransientError):
                    return None
            return run_id if waits else None

        found = await asyncio.gather(*(one(r) for r in run_ids))
        return {r for r in found if r is not None}

    async def _waits_on(
        self,
        principal: Principal,
        groups: list[str],
        handle: WorkflowHandle[Any, Any],
        description: WorkflowExecutionDescription,
        depth: int,
    ) -> bool:
        if description.status != WorkflowExecutionStatus.RUNNING:
            return False
        if description.typed_search_attributes.get(sa.STATUS) != RunStatus.AWAITING_APPROVAL:
            return False
        state = await current_state(
            self.runs.temporal, handle, description, self.runs.settings, self.runs.snapshots
        )
        if any(routed_to(principal, p, groups) for p in state.pending_approvals):
            return True
        if depth <= 0:
            return False
        # A skill step's child run (its own approvals) that this run waits for.
        query = " AND ".join(
            [
                f"ParentWorkflowId = {quoted(handle.id)}",
                "ExecutionStatus = 'Running'",
                f"{sa.TENANT.name} = {quoted(principal.tenant)}",
                f"{sa.STATUS.name} = {quoted(RunStatus.AWAITING_APPROVAL.value)}",
            ]
        )
        iterator = self.runs.temporal.list_workflows(query, page_size=20)
        await read_within(self.runs.settings, iterator.fetch_next_page(), "the waiting children")
        for child in iterator.current_page or []:
            child_handle = self.runs.temporal.get_workflow_handle(child.id)
            child_description = await read_within(
                self.runs.settings, child_handle.describe(), child.id
            )
            if await self._waits_on(principal, groups, child_handle, child_description, depth - 1):
                return True
        return False

    async def inbox(self, principal: Principal, *, limit: int = 50) -> Inbox:
        """The approvals the caller may answer, oldest first: every pending approval of the
        tenant's runs routed to the caller that someone else asked for (or the caller, where a
        policy allows self-approval). Without the approver role: those whose approval policy
        names the caller."""
        store = PolicyStore(self.runs.pool)
        # Without the approver role: only approvals whose policy names the caller (none where
        # the tenant and the repository have no policy).
        approver = has_role(principal, Role.APPROVER)
        repo = load_repo_policies(self.runs.settings.approval_policies_file)
        if not approver and not (await store.count(principal.tenant) or repo):
            return Inbox(approvals=[])
        groups = await store.groups_of(principal.tenant, principal.user_id)
        # The caller's own runs are listed only where a policy may allow self-approval (the
        # development stack's own, `dev:self-approval`, for its user).
        mine = (
            dev_self_approval(self.runs.settings.dev_api_key is not None) is not None
            and (principal.tenant, principal.user_id) == (DEV_TENANT, DEV_USER)
        ) or (
            any(p.allow_self_approval for p in repo)
            or await store.any_self_approval(principal.tenant)
        )
        clauses = [
            # A skill step's child run (SkillWorkflow) waits for its approvals itself: they are
            # the tenant's like any other, answered at the child's run id.
            f"WorkflowType IN ('{AgentRunWorkflow.__name__}', '{SKILL_WORKFLOW}')",
            "ExecutionStatus = 'Running'",
            f"{sa.TENANT.name} = {quoted(principal.tenant)}",
            f"{sa.STATUS.name} = {quoted(RunStatus.AWAITING_APPROVAL.value)}",
        ]
        if not mine:
            clauses.append(f"{sa.USER.name} != {quoted(principal.user_id)}")
        iterator = self.runs.temporal.list_workflows(" AND ".join(clauses), page_size=limit + 1)
        await read_within(self.runs.settings, iterator.fetch_next_page(), "the waiting runs")
        waiting = list(iterator.current_page or [])
        # Oldest first: the run waiting longest is the one to answer first.
        waiting.sort(key=lambda execution: execution.start_time)
        gate = asyncio.Semaphore(8)

        async def pending(execution: WorkflowExecution) -> list[InboxItem]:
            async with gate:
                handle = self.runs.temporal.get_workflow_handle(execution.id)
                description = await read_within(self.runs.settings, handle.describe(), execution.id)
                state = await current_state(
                    self.runs.temporal, handle, description, self.runs.settings, self.runs.snapshots
                )
            now = datetime.now(UTC)
            return [
                InboxItem(
                    run_id=state.run_id,
                    goal=state.goal,
                    requester=state.user_id,
                    waiting_s=round((now - p.requested_at).total_seconds(), 1),
                    **p.model_dump(include=INBOX_APPROVAL_FIELDS),
                )
                for p in state.pending_approvals
                if principal.user_id not in p.approved_by  # already answered by the caller
                # four eyes, unless a policy allows self-approval
                and (state.user_id != principal.user_id or p.self_approval)
                and (
                    may_answer(p.approvers, principal.user_id, principal.roles, groups)
                    if approver
                    else named_by_policy(p, principal.user_id, principal.roles, groups)
                )
            ]

        found = await asyncio.gather(*(pending(e) for e in waiting[:limit]))
        items = sorted((i for run in found for i in run), key=lambda i: i.requested_at)
        return Inbox(approvals=items, more=len(waiting) > limit)

    async def answer(
        self, principal: Principal, run_id: str, approval_id: str, answer: ApprovalBody
    ) -> tuple[ApprovalAck, Outcome]:
        """Answer an approval. Final when the run took the answer; otherwise (no worker could
        take it in time) recorded durably as the `approve` signal and applied, after the same
        checks, when a worker picks the run up. Four eyes: the approver role, and never the
        run's own requester (403, and the run is not touched)."""
        groups = await PolicyStore(self.runs.pool).groups_of(principal.tenant, principal.user_id)
        # Without the approver role, only an approval whose policy names the caller.
        named = not has_role(principal, Role.APPROVER) and bool(
            await self._under_policy(principal, run_id, approval_id, groups, named=True)
        )
        handle, description = await self.runs.run_for(principal, run_id, Access.ANSWER, named=named)
        requester = description.typed_search_attributes.get(sa.USER)
        # One's own run's approval: only where its policy allows self-approval.
        own = requester == principal.user_id and await self._own_answer(
            principal, run_id, approval_id
        )
        require_approver(principal, requester, named=named, own=own)
        if description.status != WorkflowExecutionStatus.RUNNING:
            await self._refuse_answer_to_ended_run(handle, principal.tenant, approval_id)
        decision = ApprovalDecision(
            approval_id=approval_id,
            decision=answer.decision,
            args_hash=answer.args_hash,
            comment=answer.comment,
            answer=answer.answer,
            reviewer=principal.user_id,
            reviewer_roles=list(principal.roles),
            # Checked against approvals that name a group (`group:<name>`), as of now.
            reviewer_groups=groups,
        )
        try:
            ack: ApprovalAck = await handle.execute_update(
                AgentRunWorkflow.approve,
                decision,
                rpc_timeout=timedelta(seconds=self.runs.settings.query_timeout_s),
            )
            return ack, Outcome(final=True)
        except WorkflowUpdateFailedError as e:
            cause = e.cause
            if isinstance(cause, ApplicationError):
                raise approval_error(cause.type, cause.message) from None
            raise
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            pass  # no worker answered in time: record the answer durably instead (below)
        except RPCError as e:
            # The run may have ended between our look and the update (completed, timed out).
            again = await read_within(self.runs.settings, handle.describe(), run_id)
            require_running(again, "there is nothing to approve")
            raise TransientError(
                f"the run did not take the answer: {e.message}",
                retry_after=self.runs.settings.retry_after_s,
            ) from e
        step_id = await check_against_last_known(
            self.runs.snapshots, run_id, decision, principal.tenant
        )
        if await self._already_signalled(handle, decision):
            # The same answer again (a retry): accepted again, recorded once.
            return self._accepted(decision, step_id), Outcome(final=False)
        try:
            await asyncio.wait_for(
                handle.signal(AgentRunWorkflow.approve_signal, decision),
                self.runs.settings.read_timeout_s,
            )
        except (TimeoutError, *UNREACHABLE) as e:
            raise TransientError(
                "the answer could not be recorded; send it again",
                retry_after=self.runs.settings.retry_after_s,
            ) from e
        return self._accepted(decision, step_id), Outcome(final=False)

    @staticmethod
    def _accepted(decision: ApprovalDecision, step_id: str) -> ApprovalAck:
        return ApprovalAck(
            approval_id=decision.approval_id,
            decision=decision.decision,
            step_id=step_id,
            status="accepted",
            detail=(
                "no worker is running this run right now; the answer is recorded and will be "
                "applied, after the same checks, when a worker picks the run up"
            ),
        )

    async def _already_signalled(
        self, handle: WorkflowHandle[Any, Any], decision: ApprovalDecision
    ) -> bool:
        """Whether this answer is already recorded as an `approve` signal no worker has applied
        yet: True for the same answer (a retry); 409 for a different one, so the API never
        acknowledges two contradictory answers (the run would apply the first and drop the
        second). Read from the run's history: this path runs only while no worker answers."""

        async def recorded() -> list[dict[str, Any]]:
            answers = []
            async for event in handle.fetch_history_events():
                if not event.HasField("workflow_execution_signaled_event_attributes"):
                    continue
                signal = event.workflow_execution_signaled_event_attributes
                if signal.signal_name != SIGNAL_APPROVE or not signal.input.payloads:
                    continue
                [payload] = await self.runs.temporal.data_converter.decode(signal.input.payloads)
                if isinstance(payload, dict):
                    answers.append(payload)
            return answers

        for earlier in await read_within(
            self.runs.settings, recorded(), f"run {handle.id}'s answers"
        ):
            if earlier.get("approval_id") != decision.approval_id:
                continue
            if (earlier.get("decision"), earlier.get("reviewer")) == (
                decision.decision,
                decision.reviewer,
            ):
                return True
            raise Conflict(
                f"approval {decision.approval_id!r} was already answered "
                f"({earlier.get('decision')} by {earlier.get('reviewer') or 'someone'}); the "
                "answer is recorded and will be applied when a worker picks the run up"
            )
        return False

    async def _under_policy(
        self,
        principal: Principal,
        run_id: str,
        approval_id: str,
        groups: list[str],
        *,
        named: bool = False,
    ) -> bool:
        """Whether the run's pending approval `approval_id` is under an approval policy that
        names the caller (by user id, group or role). Policies are an admin's: a plan's own
        terms never let anyone without the approver role answer."""
        handle, description = await owned_run(
            self.runs.temporal, self.runs.settings, run_id, principal.tenant
        )
        if description.typed_search_attributes.get(sa.STATUS) != RunStatus.AWAITING_APPROVAL:
            return False
        state = await current_state(
            self.runs.temporal, handle, description, self.runs.settings, self.runs.snapshots
        )
        user, roles = principal.user_id, principal.roles
        return any(
            p.approval_id == approval_id and (not named or named_by_policy(p, user, roles, groups))
            for p in state.pending_approvals
        )

    async def _own_answer(self, principal: Principal, run_id: str, approval_id: str) -> bool:
        """Whether the run's requester may answer `approval_id` of their own run, as far as the
        run's last known state shows: pending and a policy allows self-approval
        (`self_approval`). Not shown pending (answered, not open yet, not seen): the run
        decides, and refuses its requester's answer itself unless a policy allows it (since the
        `self-approval-policy` gate), so guessing an approval before it opens gains nothing."""
        known = await self.runs.snapshots.get(run_id, principal.tenant)
        if known is None:
            return True
        found = [p for p in known[0].pending_approvals if p.approval_id == approval_id]
        return not found or found[0].self_approval

    async def _refuse_answer_to_ended_run(
        self, handle: WorkflowHandle[Any, Any], tenant: str, approval_id: str
    ) -> None:
        """409 for an answer to a run that has ended, saying who answered it when someone did
        (approving twice is the usual way here). Read from the run's kept decision trace (no
        worker needed), else from its log."""
        kept = await TraceStore(self.runs.pool).get(handle.id, tenant)
        if kept is not None:
            answers = [
                (e.data, e.at)
                for e in kept.entries
                if e.kind == "approval" and "decision" in e.data
            ]
        else:
            try:
                events = await self.runs.whole_log(handle)
            except QUERY_FAILED:
                events = []
            answers = [(e.data, e.at) for e in events if e.type == RunEventType.APPROVAL_ANSWERED]
        for data, at in answers:
            if data.get("approval_id") == approval_id:
                raise Conflict(
                    f"approval {approval_id!r} was already answered ({data.get('decision')} "
                    f"by {data.get('reviewer') or 'someone'} at {at:%Y-%m-%d %H:%M} UTC) "
                    f"and run {handle.id} has ended"
                )
        raise Conflict(f"run {handle.id} has already ended; there is nothing to approve")
