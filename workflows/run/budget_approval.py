"""A call refused by a spend cap: the run stops with the reason, or waits for a cap to be raised.

The ledger refuses a call whose worst case would cross a cap (aios/stores/ledger/), naming the
cap: `budget_exhausted: user ada, day 2026-12-06, 4.99 of 5.00 USD ...`. By default the run then
fails with that reason. Where a tenant's or the repository's approval policy about budgets names
the crossed cap's scope (`budget: user`, or `budget: "*"` for any), the run instead opens an
approval on that policy's terms (its approvers, k, timeout, escalation; four eyes as for any
approval, so nobody raises their own cap unless the policy says so): an approver raises the cap
(`POST /v1/budgets`, `aios budgets set`) and approves, and the refused call is tried again,
reserved afresh. A rejection or a timeout fails the run, with the refusal and the answer as the
reason. A run's own `budget_usd` / `max_tokens` is its requester's choice, not a cap an admin
raises: a refusal by it always fails the run.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from aios.approval_policies import crossed_cap_scope
    from aios.plan import Step

from workflows.dag import RunFailed, StepFailed, StepSkipped
from workflows.patches import BUDGET_APPROVAL_PATCH
from workflows.run.approval_gate import ApprovalGate
from workflows.run.calls import budget_refusal

# Approvals to raise a cap asked at one call site before the run fails anyway: an approver who
# approves without raising the cap (or raises it too little) is asked again, not forever.
MAX_ASKS_PER_CALL = 3


async def retry_when_cap_raised(
    gate: ApprovalGate,
    error: ActivityError | ApplicationError,
    step: Step,
    args: dict[str, Any],
    where: str,
) -> bool:
    """What a refused call does next. False: `error` is no budget refusal (the caller goes on
    with it). True: a person approved raising the cap the call crossed, and the caller tries the
    call again. Otherwise RunFailed with the refusal's reason: no budget policy applies, the
    approval was rejected or expired, or it was asked MAX_ASKS_PER_CALL times already. `where`
    names the call site within `step` (one approval id per site and ask)."""
    reason = budget_refusal(error)
    if reason is None:
        return False
    scope = crossed_cap_scope(reason)
    if scope is None or not gate.journal.patches.has(BUDGET_APPROVAL_PATCH):
        raise RunFailed(reason)
    site = f"{step.id}{where}"
    asks = gate.budget_asks.get(site, 0) + 1
    if asks > MAX_ASKS_PER_CALL:
        raise RunFailed(f"{reason} (still, after {MAX_ASKS_PER_CALL} approvals to raise the cap)")
    gate.budget_asks[site] = asks
    suffix = f"{where}-budget-{asks}"
    applied = await gate.budget_policy(f"{step.id}{suffix}-approval", scope)
    if applied is None:
        raise RunFailed(reason)
    try:
        await gate.wait(
            step,
            args,
            suffix,
            reason=(
                f"{reason}. Raise the cap (POST /v1/budgets, `aios budgets set`) and approve to "
                "try the call again, or reject to stop the run"
            ),
            budget_policy=applied,
        )
    except (StepSkipped, StepFailed) as answer:
        raise RunFailed(f"{reason}; the cap was not raised: {answer}") from None
    return True
