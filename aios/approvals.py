"""The rules an answer to an approval must pass, in one place: the workflow applies them to the
live run (update validator and signal handler), the API to the last state it saw when no worker
can answer."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel

from aios.models import ApprovalContext, ApprovalDecision, PendingApproval
from aios.plan import args_hash
from aios.vocabulary import FailureType

# What an approval shows of each output it is about (the whole output stays with its step).
CONTEXT_CHARS = 4000
# At most this many outputs are shown (the first dependencies, in the plan's order).
CONTEXT_STEPS = 8


class SignalCheck(BaseModel):
    """Which `approve` signal of a run to find the sender of (its payload names the answer)."""

    workflow_id: str
    run_id: str
    approval_id: str
    decision: str
    args_hash: str


class SignalSender(BaseModel):
    """Who sent an `approve` signal, as the Temporal server recorded it (the Temporal UI records
    its signed-in user; a name typed into the payload is not trusted)."""

    identity: str = ""
    # Sent with the identity that started the run: AIOS's own API (its durable fallback).
    from_starter: bool = False
    # AIOS_TEMPORAL_UI_APPROVALS: answers sent from the Temporal UI count.
    ui_answers: bool = False


def readable_output(output: Any) -> str:
    """A step's output as a reviewer reads it: a model's text as it is, other text as it is,
    anything else as indented JSON."""
    text = output.get("text") if isinstance(output, dict) else None
    if isinstance(text, str):
        return text
    if isinstance(output, str):
        return output
    return json.dumps(output, indent=2, sort_keys=True, default=str)


def approval_context(step_id: str, title: str, output: Any) -> ApprovalContext:
    """What an approval shows of one output it depends on: its readable text, cut at
    CONTEXT_CHARS characters (and says so)."""
    text = readable_output(output)
    cut = len(text) > CONTEXT_CHARS
    return ApprovalContext(
        step_id=step_id,
        title=title,
        text=text[: CONTEXT_CHARS - 1] + "…" if cut else text,
        truncated=cut,
        chars=len(text),
    )


def approval_hash(args: Any, about: Mapping[str, Any] | None = None) -> str:
    """The hash an answer must name: of the arguments and, when the approval is about earlier
    outputs, of those outputs in full (by step id), so a draft that changed is a different
    approval. Without outputs it is `args_hash(args)`, as before they were shown."""
    if not about:
        return args_hash(args)
    return args_hash({"args": args, "about": dict(about)})


def may_answer(
    approvers: Collection[str],
    user: str | None,
    roles: Collection[str],
    groups: Collection[str] = (),
) -> bool:
    """Whether `user` (with `roles`, in `groups`) is named among `approvers`, by user id, by a
    role or by a group; an approval that names nobody is anyone's with the approver role (the
    API checks that)."""
    if not approvers:
        return True
    named = user is not None and user in approvers
    return (
        named
        or any(f"role:{role}" in approvers for role in roles)
        or any(f"group:{group}" in approvers for group in groups)
    )


def named_by_policy(
    pending: PendingApproval, user: str, roles: Collection[str], groups: Collection[str]
) -> bool:
    """Whether an approval policy (an admin's, not the plan's own terms) names `user` among the
    approval's approvers: then they may answer without the approver role."""
    return (
        pending.policy is not None
        and bool(pending.approvers)
        and may_answer(pending.approvers, user, roles, groups)
    )


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
    if decision.answer is not None and (found.kind != "review" or decision.decision != "approve"):
        return (
            FailureType.ANSWER_EDIT_REFUSED,
            f"approval {decision.approval_id!r} cannot take an edited answer: only an answer "
            "review (kind `review`) can, and only with `decision: approve`",
        )
    if not may_answer(
        found.approvers, decision.reviewer, decision.reviewer_roles, decision.reviewer_groups
    ):
        return (
            FailureType.NOT_AN_APPROVER,
            f"approval {decision.approval_id!r} is for {', '.join(found.approvers)}; "
            f"{decision.reviewer or 'an unnamed reviewer'} is not one of them",
        )
    if found.approvals_required > 1 and decision.decision == "approve":
        # k of n: each approval must come from a named, different person.
        if not decision.reviewer:
            return (
                FailureType.APPROVER_NOT_NAMED,
                f"approval {decision.approval_id!r} needs {found.approvals_required} distinct "
                "approvers; an answer that names nobody cannot count as one",
            )
        if decision.reviewer in found.approved_by:
            left = found.approvals_required - len(found.approved_by)
            return (
                FailureType.APPROVAL_ALREADY_ANSWERED,
                f"{decision.reviewer} already approved {decision.approval_id!r}; it needs "
                f"{left} more distinct approver(s)",
            )
    if decision.args_hash != found.args_hash:
        return (
            FailureType.ARGS_HASH_MISMATCH,
            f"args_hash does not match the arguments awaiting approval for "
            f"{decision.approval_id!r}; fetch the run state and approve what it shows",
        )
    return None


FOUR_EYES = (
    "four eyes: you requested this run, so someone else with the approver role must answer its "
    "approvals (no approval policy allows self-approval here)"
)


def own_answer_problem(
    decision: ApprovalDecision, pending: PendingApproval, requester: str | None
) -> tuple[FailureType, str] | None:
    """Four eyes: the run's requester answers its approval only where a policy allows
    self-approval (`pending.self_approval`, never a plan's say-so)."""
    if requester is None or decision.reviewer != requester or pending.self_approval:
        return None
    return FailureType.NOT_AN_APPROVER, FOUR_EYES
