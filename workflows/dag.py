"""The DAG executor shared by agent plans and (later) skills.

It runs inside workflow code, so it only schedules: every step whose dependencies have finished
starts at once (independent steps run in parallel), a `for_each` step fans out over a list, a
condition over earlier outputs can skip a step (and, transitively, what needs it), and a failed step
fails the run unless the plan says to continue. What a step *does* is the host's business: the host
passes a `StepRunner` that turns a step and its resolved arguments into a `StepResult`, usually by
executing an activity.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from aios.models import StepResult, StepState, Usage
    from aios.plan import Plan, PlanError, Step, evaluate_condition, resolve_args, resolve_ref
    from aios.vocabulary import FINISHED_STEP_STATUSES, RunEventType, RunStatus, StepStatus

T = TypeVar("T")

# Fan-out of one for_each step: more elements than this wait for a free slot.
MAX_PARALLEL_ITEMS = 16


class StepFailed(Exception):
    """A step could not produce an output; `reason` is shown to the user."""

    def __init__(self, reason: str, *, attempts: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts


class StepSkipped(Exception):
    """A step decided not to run (e.g. its approval was rejected with `on_reject: skip`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RunFailed(Exception):
    """The whole run must stop with `status` (failed or timed_out) and `reason`."""

    def __init__(
        self, reason: str, *, status: RunStatus = RunStatus.FAILED, step_id: str | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        # The step whose failure stopped the run, when one did (a replan can work around it).
        self.step_id = step_id


class StepRunner(Protocol):
    def __call__(
        self, step: Step, args: dict[str, Any], item_index: int | None
    ) -> Awaitable[StepResult]: ...


EventSink = Callable[[RunEventType, str | None, dict[str, Any]], None]


@dataclass
class DagExecutor:
    plan: Plan
    steps: dict[str, StepState]
    run_step: StepRunner
    emit: EventSink
    on_step_finished: Callable[[Step, StepResult], None] = lambda _s, _r: None
    outputs: dict[str, Any] = field(default_factory=dict)
    # What `run.*` references resolve to: {"goal": ..., "inputs": {...}}.
    run_input: dict[str, Any] = field(default_factory=dict)

    async def run(self) -> dict[str, Any]:
        """Run the plan to the end; returns every completed step's output."""
        running: dict[asyncio.Task[StepResult], Step] = {}
        try:
            while True:
                for step in self._ready_steps(running.values()):
                    if self._should_skip(step):
                        continue
                    running[asyncio.create_task(self._start(step))] = step
                if not running:
                    return self.outputs
                done, _ = await workflow.wait(running.keys(), return_when=asyncio.FIRST_COMPLETED)
                # Several may finish in one activation: observe them in plan order.
                for task in sorted(done, key=lambda t: self._position(running[t].id)):
                    self._observe(running.pop(task), task)
        except BaseException as stop:
            # A coroutine being closed (the worker evicting this run from its cache) must not
            # await; on a real failure or cancellation, let the steps finish cancelling first.
            await _cancel_all(list(running), wait=not isinstance(stop, GeneratorExit))
            raise

    # --- scheduling -------------------------------------------------------------------

    def _position(self, step_id: str) -> int:
        return next(i for i, s in enumerate(self.plan.steps) if s.id == step_id)

    def _ready_steps(self, running: Any) -> list[Step]:
        running_ids = {s.id for s in running}
        ready = []
        for step in self.plan.steps:
            state = self.steps[step.id]
            if state.status != StepStatus.PENDING or step.id in running_ids:
                continue
            if all(self.steps[d].status in FINISHED_STEP_STATUSES for d in step.depends_on):
                ready.append(step)
        return ready

    def _should_skip(self, step: Step) -> bool:
        blocked = [d for d in step.depends_on if self.steps[d].status != StepStatus.COMPLETED]
        if blocked:
            self._skip(step, f"skipped because {', '.join(blocked)} did not complete")
            return True
        if step.condition is not None:
            try:
                holds = evaluate_condition(step.condition, self.outputs, self.run_input)
            except PlanError as e:
                raise RunFailed(f"step {step.id!r}: {e}") from None
            if not holds:
                self._skip(
                    step,
                    f"condition {step.condition.ref} {step.condition.op} "
                    f"{step.condition.value!r} is false",
                )
                return True
        return False

    def _skip(self, step: Step, reason: str) -> None:
        state = self.steps[step.id]
        state.status = StepStatus.SKIPPED
        state.error = None
        state.ended_at = workflow.now()
        self.emit(RunEventType.STEP_SKIPPED, step.id, {"reason": reason})

    async def _start(self, step: Step) -> StepResult:
        state = self.steps[step.id]
        state.status = StepStatus.RUNNING
        state.started_at = workflow.now()
        self.emit(RunEventType.STEP_STARTED, step.id, {"title": step.title, "kind": step.kind})
        if step.for_each is None:
            return await self.run_step(step, self._resolve(step, None), None)
        try:
            items = resolve_ref(step.for_each, self.outputs, run=self.run_input)
        except PlanError as e:
            raise StepFailed(f"for_each: {e}") from None
        if not isinstance(items, list):
            raise StepFailed(f"for_each {step.for_each!r} is a {type(items).__name__}, not a list")
        slots = asyncio.Semaphore(MAX_PARALLEL_ITEMS)

        async def one(index: int, item: Any) -> StepResult:
            async with slots:
                return await self.run_step(step, self._resolve(step, item), index)

        results = await gather_or_cancel(
            [asyncio.create_task(one(i, item)) for i, item in enumerate(items)]
        )
        usage = Usage()
        for r in results:
            usage += r.usage
        return StepResult(
            output=[r.output for r in results],
            attempt=max((r.attempt for r in results), default=1),
            usage=usage,
        )

    def _resolve(self, step: Step, item: Any) -> dict[str, Any]:
        try:
            resolved = resolve_args(step.args, self.outputs, item, self.run_input)
        except PlanError as e:
            raise StepFailed(f"arguments: {e}") from None
        if not isinstance(resolved, dict):  # cannot happen: resolution keeps the dict's shape
            raise StepFailed("arguments did not resolve to an object")
        return resolved

    def _observe(self, step: Step, task: asyncio.Task[StepResult]) -> None:
        state = self.steps[step.id]
        state.ended_at = workflow.now()
        error = task.exception()
        if error is None:
            result = task.result()
            self.outputs[step.id] = result.output
            state.status = StepStatus.COMPLETED
            state.attempts = max(state.attempts, result.attempt)
            state.usage = result.usage
            state.output_ref = f"steps/{step.id}/output"
            self.emit(RunEventType.STEP_FINISHED, step.id, {"attempts": state.attempts})
            self.on_step_finished(step, result)
            return
        if isinstance(error, StepSkipped):
            self._skip(step, error.reason)
            state.error = error.reason  # what decided it (e.g. who rejected) stays visible
            return
        if isinstance(error, RunFailed):
            state.status = StepStatus.FAILED
            state.error = error.reason
            self.emit(RunEventType.STEP_FAILED, step.id, {"error": error.reason})
            raise error
        if not isinstance(error, StepFailed):
            raise error
        state.status = StepStatus.FAILED
        state.error = error.reason
        state.attempts = max(state.attempts, error.attempts)
        self.emit(
            RunEventType.STEP_FAILED,
            step.id,
            {"error": error.reason, "attempts": state.attempts, "continue": step.on_failure},
        )
        if step.on_failure == "fail":
            raise RunFailed(f"step {step.id!r} failed: {error.reason}", step_id=step.id)


async def gather_or_cancel(tasks: list[asyncio.Task[T]]) -> list[T]:
    """Every task's result, in order. The first failure, or a cancellation of the caller, cancels
    the others (a failed `for_each` element stops its siblings; a cancelled run stops an agent's
    parallel tool calls), and every exception is retrieved."""
    try:
        if tasks:
            await workflow.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        failed = next((t for t in tasks if t.done() and t.exception() is not None), None)
        if failed is not None:
            raise failed.exception()  # type: ignore[misc]
    except BaseException as stop:
        await _cancel_all(tasks, wait=not isinstance(stop, GeneratorExit))
        raise
    return [t.result() for t in tasks]


async def _cancel_all(tasks: list[asyncio.Task[Any]], *, wait: bool) -> None:
    """Cancel `tasks`, let them finish cancelling (unless the coroutine is being closed), and
    retrieve what each raised: an exception nobody retrieves is logged as "Task exception was
    never retrieved" for an outcome that was expected."""
    for task in tasks:
        task.cancel()
    if wait and tasks:
        await workflow.wait(tasks)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()
