"""The agent loop (workflows/agent_loop.py) under the two shapes of policy it serves: an agent
step's (fixed tools, side effects wait for approval, untrusted results taint) and a chat turn's
(tools chosen per round, no approvals, a limit that must end in a reply). Pure workflow logic:
the policies here script the model and the tools, so no Temporal is needed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from aios.models import ChatSessionInput, ChatToolUse, ChatTurn, Message, StepResult, ToolCall
from workflows.agent_loop import (
    CallFailed,
    CallRejected,
    CallStatus,
    TurnOutcome,
    run_agent_loop,
)
from workflows.chat import MAX_ROUNDS, ChatTurnPolicy
from workflows.dag import RunFailed


def asks(*calls: tuple[str, dict[str, Any]]) -> Message:
    return Message(
        role="assistant",
        content="",
        tool_calls=[
            ToolCall(id=f"c{i}", name=name, arguments=args) for i, (name, args) in enumerate(calls)
        ],
    )


class ScriptedPolicy:
    """A policy whose model turns and tools are scripted; it records what the loop did."""

    refusal = "not offered"

    def __init__(
        self,
        turns: list[Message | str],
        *,
        offered: list[list[str]] | list[str],
        max_turns: int = 4,
        approval: set[str] | None = None,
        rejected: set[str] | None = None,
        untrusted: set[str] | None = None,
        delays: dict[str, float] | None = None,
    ) -> None:
        self.turns = turns
        self.offered = offered
        self.max_turns = max_turns
        self.approval = approval or set()
        self.rejected = rejected or set()
        self.untrusted = untrusted or set()
        self.delays = delays or {}
        self.seen: list[list[Message]] = []  # the conversation each model turn was given
        self.records: list[dict[str, Any]] = []
        self.invoked: list[str] = []
        self.approvals: list[str] = []
        self.taint: list[str] = []

    async def model_turn(self, turn: int, conversation: list[Message]) -> TurnOutcome[str]:
        self.seen.append(list(conversation))
        scripted = self.turns[turn - 1]
        offered = self.offered[turn - 1] if isinstance(self.offered[0], list) else self.offered
        assert isinstance(offered, list)
        if isinstance(scripted, str):
            return TurnOutcome(answer=scripted)
        return TurnOutcome(asks=scripted, offered=[str(name) for name in offered])

    def exhausted(self, conversation: list[Message]) -> str:
        return f"stopped after {self.max_turns} turns"

    def begin_call(self, turn: int, index: int, call: ToolCall) -> dict[str, Any]:
        record: dict[str, Any] = {"turn": turn, "tool": call.name, "status": None}
        self.records.append(record)
        return record

    def end_call(
        self, turn: int, record: dict[str, Any], status: CallStatus, error: str | None
    ) -> None:
        record["status"], record["error"] = status, error

    def needs_approval(self, call: ToolCall) -> bool:
        return call.name in self.approval

    async def approve(self, turn: int, index: int, call: ToolCall) -> None:
        self.approvals.append(call.name)
        if call.name == "expires":
            raise RunFailed("approval expired and fails the run")
        if call.name in self.rejected:
            raise CallRejected("rejected by ada")

    async def invoke(self, turn: int, index: int, call: ToolCall) -> StepResult:
        await asyncio.sleep(self.delays.get(call.name, 0))
        self.invoked.append(call.name)
        if call.name == "broken":
            raise CallFailed("the tool is down")
        return StepResult(output={"tool": call.name}, untrusted=call.name in self.untrusted)

    def observe(self, turn: int, call: ToolCall, result: StepResult) -> None:
        if result.untrusted:
            self.taint.append(f"{call.name} (turn {turn})")


async def test_an_agent_steps_calls_come_back_in_order_refused_rejected_or_failed() -> None:
    policy = ScriptedPolicy(
        [
            asks(
                ("fetch", {"url": "u"}),
                ("send_email", {"to": "x"}),
                ("shell", {}),
                ("broken", {}),
                ("calculator", {"expression": "1+1"}),
            ),
            "done",
        ],
        offered=["fetch", "send_email", "broken", "calculator"],
        approval={"send_email"},
        rejected={"send_email"},
        untrusted={"fetch"},
        # The first call finishes last: answers still follow the order of the calls.
        delays={"fetch": 0.05},
    )

    assert await run_agent_loop(policy) == "done"

    second = policy.seen[1]
    assert [m.role for m in second] == ["assistant", "tool", "tool", "tool", "tool", "tool"]
    assert [m.tool_call_id for m in second[1:]] == ["c0", "c1", "c2", "c3", "c4"]
    contents = [m.content for m in second[1:]]
    assert contents[0] == '{"tool": "fetch"}'
    assert contents[1] == "error: a reviewer did not allow this call: rejected by ada"
    assert contents[2].startswith("error: tool 'shell' is not available; use one of ['fetch'")
    assert contents[3] == "error: the tool is down"
    assert contents[4] == '{"tool": "calculator"}'
    assert [(r["tool"], r["status"], r["error"]) for r in policy.records] == [
        ("fetch", "completed", None),
        ("send_email", "rejected", "rejected by ada"),
        ("shell", "refused", "not offered"),
        ("broken", "failed", "the tool is down"),
        ("calculator", "completed", None),
    ]
    # Only the approval predicate's tool waited; refused and rejected calls never ran.
    assert policy.approvals == ["send_email"]
    assert sorted(policy.invoked) == ["broken", "calculator", "fetch"]
    assert policy.taint == ["fetch (turn 1)"]


async def test_a_failure_of_the_run_stops_the_other_calls_of_the_turn() -> None:
    policy = ScriptedPolicy(
        [asks(("expires", {}), ("slow", {}))],
        offered=["expires", "slow"],
        approval={"expires"},
        delays={"slow": 10.0},
    )
    with pytest.raises(RunFailed):
        await run_agent_loop(policy)
    assert policy.invoked == []  # the slow call was cancelled, not left running


async def test_the_limit_ends_the_loop_after_the_last_turns_calls() -> None:
    policy = ScriptedPolicy(
        [asks(("calculator", {})), asks(("calculator", {}))],
        offered=["calculator"],
        max_turns=2,
    )
    assert await run_agent_loop(policy) == "stopped after 2 turns"
    assert len(policy.seen) == 2
    assert policy.invoked == ["calculator", "calculator"]


async def test_a_chat_turn_offers_tools_per_round() -> None:
    """Chat's shape: the activity chooses the tools each round, none in the last."""
    policy = ScriptedPolicy(
        [asks(("calculator", {})), asks(("search", {})), asks(("calculator", {})), "It is 42."],
        offered=[["calculator"], ["calculator"], [], []],
        max_turns=MAX_ROUNDS,
    )
    assert await run_agent_loop(policy) == "It is 42."
    assert [r["status"] for r in policy.records] == ["completed", "refused", "refused"]
    assert policy.invoked == ["calculator"]
    assert policy.approvals == []


def test_the_chat_policy_reports_its_calls_and_never_waits_for_approval() -> None:
    policy = ChatTurnPolicy(
        ChatSessionInput(session_id="s", tenant="default", user_id="ada"),
        ChatTurn(message="6 times 7?", message_id="m1"),
        number=1,
    )
    assert policy.max_turns == MAX_ROUNDS
    ok = policy.begin_call(1, 0, ToolCall(id="a", name="calculator", arguments={"x": 1}))
    refused = policy.begin_call(1, 1, ToolCall(id="b", name="shell"))
    failed = policy.begin_call(2, 0, ToolCall(id="c", name="fetch"))
    policy.end_call(1, ok, "completed", None)
    policy.end_call(1, refused, "refused", policy.refusal)
    policy.end_call(2, failed, "failed", "timeout")
    assert [(u.tool, u.round, u.status, u.error) for u in (ok, refused, failed)] == [
        ("calculator", 1, "ok", None),
        ("shell", 1, "refused", "not one of the tools offered"),
        ("fetch", 2, "failed", "timeout"),
    ]
    assert all(isinstance(u, ChatToolUse) for u in (ok, refused, failed))
    assert not policy.needs_approval(ToolCall(id="d", name="send_email"))
    with pytest.raises(ApplicationError, match="chat turn 1 ended without a reply"):
        policy.exhausted([])
