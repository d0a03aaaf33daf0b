"""The checks every goal passes before it becomes a run, whether a client starts the run
(`POST /v1/runs`) or a schedule will (`POST /v1/schedules`): a bad goal is a 422 with advice at
the request, never a failed run later."""

from __future__ import annotations

from aios.config import Settings
from aios.errors import ValidationFailed
from aios.guardrails import Finding, check_policy, describe, guard_goal


def checked_goal(goal: str, settings: Settings) -> tuple[str, list[Finding]]:
    """The goal as the run receives it (personal data redacted when AIOS_GUARDRAILS_PII=redact)
    and the guardrails' findings; ValidationFailed when it is empty, holds a NUL, is longer than
    AIOS_MAX_GOAL_CHARS or is refused by the content policy."""
    if not goal.strip():
        raise ValidationFailed("the goal is empty; say what the run should achieve")
    if "\x00" in goal:
        raise ValidationFailed("the goal contains a NUL character (\\u0000); remove it")
    if len(goal) > settings.max_goal_chars:
        raise ValidationFailed(
            f"the goal is {len(goal)} characters long; the limit is "
            f"{settings.max_goal_chars}. Put long material in a document and ingest it."
        )
    checked, findings = guard_goal(
        goal, policy=settings.content_policy, redact_pii=settings.guardrails_pii == "redact"
    )
    refused = [f for f in findings if f.decision == "refused"]
    if refused:
        raise ValidationFailed(
            f"the goal is not allowed by the content policy: {describe(refused)}"
        )
    return checked, findings


def checked_message(message: str, settings: Settings) -> None:
    """A chat message passes the content policy as a goal does: ValidationFailed naming the
    rule when it does not."""
    refused = check_policy(message, settings.content_policy)
    if refused:
        raise ValidationFailed(
            f"the message is not allowed by the content policy: {describe(refused)}"
        )
