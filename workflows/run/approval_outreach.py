"""What happens around an approval as it opens, outside the run: a standing approval that may let
the call through without a person, and the notices that tell the approvers it waits. Both are
activities the approval gate (approval_gate.py) runs; neither failing stops the run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from aios.models import PendingApproval
    from aios.notices import ApprovalNotice, NoticeSent
    from aios.plan import Step
    from aios.standing import StandingUse, StandingUseRequest
    from aios.vocabulary import Activity, RunEventType

from workflows.patches import STANDING_APPROVAL_PATCH
from workflows.run.calls import failure_reason
from workflows.run.journal import RunJournal

# Asking for a standing approval: a database round trip; when it cannot be had, a person decides.
STANDING_RETRY = RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(seconds=5))
# Telling the approvers: retried for about half an hour (a mail server or webhook that is down).
NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=12,
)


async def standing_approval(
    journal: RunJournal, step: Step, approval_id: str, tool: str, args: dict[str, Any]
) -> bool:
    """True when a standing approval of the tenant allows `tool` with `args` (one of its uses
    is consumed, once per approval id): the run goes on and its events say which one."""
    if not journal.patches.has(STANDING_APPROVAL_PATCH):
        return False
    state = journal.state
    request = StandingUseRequest(
        tenant=state.tenant, tool=tool, args=args, use_key=f"{state.run_id}/{approval_id}"
    )
    try:
        use: StandingUse | None = await workflow.execute_activity(
            Activity.USE_STANDING_APPROVAL,
            request,
            result_type=StandingUse,
            start_to_close_timeout=timedelta(seconds=15),
            retry_policy=STANDING_RETRY,
            summary=f"standing approval for {tool}?",
        )
    except ActivityError as e:  # no answer: a person decides, as without standing approvals
        workflow.logger.warning(
            "run %s: no standing approval checked: %s", state.run_id, failure_reason(e)
        )
        return False
    if use is None:
        return False
    journal.emit(
        RunEventType.APPROVAL_STANDING,
        step.id,
        {"approval_id": approval_id, "tool": tool, **use.model_dump(mode="json")},
    )
    return True


async def notify_approvers(journal: RunJournal, pending: PendingApproval, escalation: int) -> None:
    """Tell the approvers that `pending` waits (the activity sends each channel's notice once
    per approval); a delivery that keeps failing is logged, and the approval still waits."""
    state = journal.state
    notice = ApprovalNotice(
        tenant=state.tenant,
        run_id=state.run_id,
        goal=state.goal,
        requester=state.user_id,
        **pending.model_dump(
            include={
                "approval_id",
                "step_id",
                "reason",
                "args",
                "about",
                "requested_at",
                "expires_at",
                "approvers",
                "self_approval_policy",
            }
        ),
        escalation=escalation,
    )
    try:
        await workflow.execute_activity(
            Activity.NOTIFY_APPROVAL,
            notice,
            result_type=NoticeSent,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=NOTIFY_RETRY,
            summary=f"notify the approvers of {pending.approval_id}",
        )
    except ActivityError as e:
        workflow.logger.warning(
            "run %s: approvers of %s not notified: %s",
            state.run_id,
            pending.approval_id,
            failure_reason(e),
        )
