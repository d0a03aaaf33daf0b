"""An activity on behalf of a step, the rules of the plan's tools, and what failures mean."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, RetryState

with workflow.unsafe.imports_passed_through():
    from aios.models import PlanningResult
    from aios.plan import RetrySpec, Step, effective_retry
    from aios.queues import queue_for
    from aios.sources import EGRESS_DENIED, IN_DOUBT
    from aios.vocabulary import Activity, FailureType

from workflows.dag import RunFailed

R = TypeVar("R")

HEARTBEAT_TIMEOUT_S = 30.0


class ToolRules:
    """What the planner said about the plan's tools: which need approval, which have side
    effects, and their own retry policies."""

    def __init__(self) -> None:
        self.approval: set[str] = set()
        self.side_effects: set[str] = set()
        self.retries: dict[str, RetrySpec] = {}

    def adopt(self, planning: PlanningResult) -> None:
        self.approval = set(planning.tools_requiring_approval)
        self.side_effects = set(planning.side_effect_tools)
        self.retries = dict(planning.tool_retries)

    def retry_for(self, step: Step, tool: str | None) -> RetrySpec:
        """The step's retry policy, else the tool's own, else the default for its effects."""
        return effective_retry(
            step,
            side_effects=tool in self.side_effects,
            tool_default=self.retries.get(tool or ""),
        )


async def step_activity(
    activity: Activity,
    arg: Any,
    result_type: type[R],
    step: Step,
    retry: RetrySpec,
    *,
    summary: str,
    queues: dict[str, str],
) -> R:
    """An activity on behalf of a step, under the step's timeout, heartbeat and retry policy. A
    crashed worker is noticed within the step's heartbeat timeout and the call goes elsewhere."""
    result: R = await workflow.execute_activity(
        activity,
        arg,
        result_type=result_type,
        task_queue=queue_for(activity, queues),
        start_to_close_timeout=timedelta(seconds=step.timeout_s),
        heartbeat_timeout=timedelta(
            seconds=min(step.heartbeat_timeout_s or HEARTBEAT_TIMEOUT_S, step.timeout_s)
        ),
        retry_policy=RetryPolicy(
            initial_interval=timedelta(seconds=retry.initial_interval_s),
            backoff_coefficient=retry.backoff,
            maximum_interval=timedelta(seconds=retry.max_interval_s),
            maximum_attempts=retry.max_attempts,
        ),
        summary=summary,
    )
    return result


def budget_refusal(error: ActivityError | ApplicationError) -> str | None:
    """The reason, when a call was refused for a budget (the run's, or a cap of the ledger)."""
    cause = failure_cause(error)
    if isinstance(cause, ApplicationError) and cause.type == FailureType.BUDGET_EXCEEDED:
        return cause.message
    return None


def stop_if_over_budget(error: ActivityError | ApplicationError) -> None:
    """A model call refused for the run's budget stops the whole run, with the reason. (A step's
    own calls may wait for a cap to be raised instead: budget_approval.py.)"""
    reason = budget_refusal(error)
    if reason is not None:
        raise RunFailed(reason)


def failure_cause(
    error: ActivityError | ChildWorkflowError | ApplicationError,
) -> BaseException | None:
    """What went wrong inside an activity. A local activity's non-retryable failure arrives as
    the ApplicationError itself, not wrapped in an ActivityError."""
    return error if isinstance(error, ApplicationError) else error.cause


def failure_reason(error: ActivityError | ChildWorkflowError | ApplicationError) -> str:
    cause = failure_cause(error)
    if isinstance(cause, ApplicationError):
        return cause.message
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"
    return str(error)


def egress_refused(error: ActivityError) -> str | None:
    """The reason, when a tool refused to reach a host outside the tenant's allowed domains
    after untrusted content (a person may approve the call: workflows/run/steps.py)."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == EGRESS_DENIED:
        return cause.message
    return None


def call_in_doubt(error: ActivityError) -> str | None:
    """The reason, when a call with side effects on a server we do not control may or may not
    have happened (a person decides whether to send it again: workflows/run/steps.py)."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == IN_DOUBT:
        return cause.message
    return None


def failure_attempts(error: ActivityError, max_attempts: int) -> int:
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.details:
        first = cause.details[0]
        if isinstance(first, dict) and isinstance(first.get("attempt"), int):
            return int(first["attempt"])
    if error.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
        return max_attempts
    return 1
