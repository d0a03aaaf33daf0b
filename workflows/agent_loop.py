"""The agent loop: one bounded, tool-using loop for a run's `agent` steps and for chat turns.

A model turn (an activity) either answers or asks for tool calls. The calls run in parallel, each
its own activity; each result goes back to the model in the next turn, failures included (as
`error: ...`) so that the model can correct itself. A call to a tool the turn did not offer is
refused the same way, without running anything. The loop ends on an answer, or when its turns
are spent.

What differs between an agent step and a chat turn is the `LoopPolicy`:
- the model turn: which activity, with which input, and what counts as the answer;
- the tools offered (fixed for an agent step; chosen by the chat activity per round);
- the approval predicate and gate (an agent step's side-effecting tools wait for a person; chat
  offers only tools that need none);
- the taint rules (what an agent step learns from an untrusted tool result);
- the limit (`max_turns`) and what happens when it is reached;
- how each call is recorded (the run's turn records and events; the chat reply's `tools_used`).

Deterministic workflow code: the loop calls only its policy and `gather_or_cancel`, and awaits
nothing else, so the commands it issues are the policy's, in the same order every replay.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from aios.models import Message, StepResult, ToolCall

from workflows.dag import gather_or_cancel

A = TypeVar("A")  # what the loop answers with (a step's result, a chat reply)
R = TypeVar("R")  # how the policy records one tool call

# How a tool call ended, as the loop tells the policy.
CallStatus = Literal["completed", "failed", "rejected", "refused"]


class TurnOutcome(Generic[A]):
    """What one model turn gave: the loop's answer, or a message asking for tool calls and the
    tools it may call. Neither ends the loop as if its turns were spent."""

    __slots__ = ("answer", "asks", "offered")

    def __init__(
        self, *, answer: A | None = None, asks: Message | None = None, offered: Sequence[str] = ()
    ) -> None:
        self.answer = answer
        self.asks = asks
        self.offered = list(offered)


class CallRejected(Exception):
    """A person (or an approval's timeout) did not allow a tool call; the model is told why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CallFailed(Exception):
    """A tool call failed; the model is told why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


if TYPE_CHECKING:  # a type only: the sandbox imports this module afresh for every run
    from typing import Protocol

    class LoopPolicy(Protocol[A, R]):
        """What differs between the loops that `run_agent_loop` runs."""

        @property
        def max_turns(self) -> int: ...

        @property
        def refusal(self) -> str:
            """Recorded for a call to a tool the turn did not offer."""
            ...

        async def model_turn(self, turn: int, conversation: list[Message]) -> TurnOutcome[A]:
            """Ask the model (an activity; `turn` counts from 1), record the turn."""
            ...

        def begin_call(self, turn: int, index: int, call: ToolCall) -> R:
            """Record a tool call the model asked for, before anything runs."""
            ...

        def needs_approval(self, call: ToolCall) -> bool: ...

        async def approve(self, turn: int, index: int, call: ToolCall) -> None:
            """Wait for a person's answer; raise CallRejected unless the call may run."""
            ...

        async def invoke(self, turn: int, index: int, call: ToolCall) -> StepResult:
            """Run the tool (an activity); raise CallFailed when it fails."""
            ...

        def observe(self, turn: int, call: ToolCall, result: StepResult) -> None:
            """The taint rules: what the loop learns from a tool's result (untrusted content,
            guardrail findings) before the model reads it."""
            ...

        def end_call(self, turn: int, record: R, status: CallStatus, error: str | None) -> None:
            """Record how a tool call ended."""
            ...

        def exhausted(self, conversation: list[Message]) -> A:
            """The answer (or the exception) when the turns are spent without one."""
            ...


async def run_agent_loop(policy: LoopPolicy[A, R]) -> A:
    """Model turns and their tool calls until an answer, at most `policy.max_turns` turns."""
    conversation: list[Message] = []
    for turn in range(1, policy.max_turns + 1):
        outcome = await policy.model_turn(turn, conversation)
        if outcome.answer is not None:
            return outcome.answer
        if outcome.asks is None:
            break
        conversation.append(outcome.asks)
        offered = outcome.offered
        calls = [
            asyncio.create_task(_tool_call(policy, turn, index, call, offered))
            for index, call in enumerate(outcome.asks.tool_calls)
        ]
        conversation.extend(await gather_or_cancel(calls))
    return policy.exhausted(conversation)


async def _tool_call(
    policy: LoopPolicy[A, R], turn: int, index: int, call: ToolCall, offered: list[str]
) -> Message:
    """One tool call the model asked for, as the message the model reads next turn."""
    record = policy.begin_call(turn, index, call)

    def answer(content: str, status: CallStatus = "completed", error: str | None = None) -> Message:
        policy.end_call(turn, record, status, error)
        return Message(role="tool", tool_call_id=call.id, content=content)

    if call.name not in offered:
        return answer(
            f"error: tool {call.name!r} is not available; use one of {offered}",
            "refused",
            policy.refusal,
        )
    if policy.needs_approval(call):
        try:
            await policy.approve(turn, index, call)
        except CallRejected as e:
            return answer(
                f"error: a reviewer did not allow this call: {e.reason}", "rejected", e.reason
            )
    try:
        result = await policy.invoke(turn, index, call)
    except CallFailed as e:
        return answer(f"error: {e.reason}", "failed", e.reason)
    policy.observe(turn, call, result)
    return answer(json.dumps(result.output, default=str))
