"""The rules an answer to an approval must pass, in one place: the workflow applies them to the
live run (update validator and signal handler), the API to the last state it saw when no worker
can answer."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from aios.models import ApprovalDecision, PendingApproval
from aios.vocabulary import FailureType


def approval_problem(
    decision: ApprovalDecision,
    pending: Mapping[str, PendingApproval],
    answered: Collection[str] = (),
) -> tuple[FailureType, str] | None:
    """What is wrong with `decision`, or None when it answers a pending approval about exactly
    the arguments it shows."""
    found = pending.get(decision.approval_id)
    if found is None:
        if decision.approval_id in answered:
            return (
                FailureType.APPROVAL_ALREADY_ANSWERED,
                f"approval {decision.approval_id!r} was already answered or has expired",
            )
        waiting = ", ".join(pending) or "none"
        return (
            FailureType.UNKNOWN_APPROVAL,
            f"no pending approval {decision.approval_id!r} (pending: {waiting})",
        )
    if decision.args_hash != found.args_hash:
        return (
            FailureType.ARGS_HASH_MISMATCH,
            f"args_hash does not match the arguments awaiting approval for "
            f"{decision.approval_id!r}; fetch the run state and approve what it shows",
        )
    return None
