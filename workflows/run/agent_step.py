"""An `agent` step's policy for the agent loop (workflows/agent_loop.py).

Each model turn is an `aios.agent_turn` activity under the step's timeout and retry policy,
counted against the run's budget as it goes; each tool call is an `aios.invoke_tool` activity
through the registry, under the tool's retry policy. The step offers the tools it names. A tool
that has side effects or requires approval waits for a person (the run's approval gate), told
what untrusted content the agent had read by then: its documents and every untrusted tool result
(the taint rules). Every turn and call is recorded in the step's state and the run's events.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from aios.guardrails import Taint
    from aios.models import (
        AgentRunInput,
        AgentStepArgs,
        AgentToolCallRecord,
        AgentTurnInput,
        AgentTurnRecord,
        AgentTurnResult,
        Message,
        StepInput,
        StepResult,
        ToolCall,
        Usage,
    )
    from aios.plan import RetrySpec, Step
    from aios.vocabulary import Activity, RunEventType

from workflows.agent_loop import CallFailed, CallRejected, CallStatus, TurnOutcome
from workflows.dag import StepFailed, StepSkipped
from workflows.patches import (
    CONTEXT_TRIM_PATCH,
    EGRESS_PATCH,
    LEDGER_AGENT_TOOLS_PATCH,
    MCP_IN_DOUBT_PATCH,
    ONE_APPROVAL_AFTER_TAINT_PATCH,
)
from workflows.run.approval_gate import ApprovalGate
from workflows.run.budget_approval import retry_when_cap_raised
from workflows.run.calls import (
    ToolRules,
    call_in_doubt,
    egress_refused,
    failure_reason,
    step_activity,
)
from workflows.run.journal import RunJournal

# Model turns of an agent step, unless the step names its own policy.
LLM_TURN_RETRY = RetrySpec(max_attempts=4, initial_interval_s=2.0)


class AgentStepPolicy:
    """A bounded tool-using loop as one step of a run: ends on a final answer, on `max_turns`
    (with the last text and why it stopped) or when the run's budget is spent (the run fails)."""

    refusal = "not one of this step's tools"

    def __init__(
        self,
        run: AgentRunInput,
        step: Step,
        args: dict[str, Any],
        inputs: Taint,
        journal: RunJournal,
        gate: ApprovalGate,
        tools: ToolRules,
    ) -> None:
        try:
            self._agent = AgentStepArgs.model_validate(args)
        except ValueError as e:  # arguments that arrived by reference and do not fit
            raise StepFailed(f"invalid arguments for an agent step: {e}") from None
        self._run = run
        self._step = step
        self._args = args
        self._journal = journal
        self._gate = gate
        self._tools = tools
        self._state = journal.step_state(step.id)
        self._usage = Usage()
        self._turns: dict[int, AgentTurnRecord] = {}
        # What the agent has read that came from outside: its documents, then tool results.
        self._seen = Taint()
        self._seen.add(inputs)
        # Calls (turn, index) a person approved after untrusted content: not asked again.
        self._approved_after_taint: set[tuple[int, int]] = set()

    @property
    def max_turns(self) -> int:
        return self._agent.max_turns

    async def model_turn(self, turn: int, conversation: list[Message]) -> TurnOutcome[StepResult]:
        run, step, journal = self._run, self._step, self._journal
        retry = step.retry or LLM_TURN_RETRY
        while True:
            try:
                result = await step_activity(
                    Activity.AGENT_TURN,
                    AgentTurnInput(
                        run_id=journal.state.run_id,
                        step_id=step.id,
                        tenant=run.tenant,
                        user_id=run.user_id,
                        turn=turn,
                        args=self._agent,
                        conversation=conversation,
                        budget=journal.budget(run),
                        max_attempts=retry.max_attempts,
                        cache=run.cache,
                        versions=run.versions,
                    ),
                    AgentTurnResult,
                    step,
                    retry,
                    summary=f"{step.title}: turn {turn}",
                    queues=run.activity_queues,
                )
                break
            except ActivityError as e:
                if await retry_when_cap_raised(self._gate, e, step, self._args, f"-t{turn}"):
                    continue
                raise StepFailed(f"turn {turn}: {failure_reason(e)}") from None
        self._usage += result.usage
        journal.state.usage += result.usage
        journal.note_routing(step.id, result.routing)
        trim = result.context_trim
        # Every turn opens with the same documents: the cut is told once, at the first.
        if turn == 1 and trim is not None and journal.patches.has(CONTEXT_TRIM_PATCH):
            journal.emit(
                RunEventType.CONTEXT_TRIMMED, step.id, {"note": trim.note(), **trim.model_dump()}
            )
        message = result.message
        record = AgentTurnRecord(turn=turn, text=message.content[:2000], usage=result.usage)
        self._turns[turn] = record
        self._state.turns.append(record)
        journal.emit(
            RunEventType.AGENT_TURN,
            step.id,
            {
                "turn": turn,
                "text": message.content[:500],
                "tool_calls": [c.name for c in message.tool_calls],
            },
        )
        if not message.tool_calls:
            return TurnOutcome(
                answer=StepResult(
                    output={"text": message.content, "turns": turn, "citations": []},
                    usage=self._usage,
                    untrusted=self._seen.tainted,
                )
            )
        return TurnOutcome(asks=message, offered=self._agent.tools)

    def exhausted(self, conversation: list[Message]) -> StepResult:
        agent = self._agent
        last = next((m.content for m in reversed(conversation) if m.role == "assistant"), "")
        return StepResult(
            output={
                "text": last,
                "turns": agent.max_turns,
                "stopped": f"max_turns ({agent.max_turns}) reached before a final answer",
                "citations": [],
            },
            usage=self._usage,
            untrusted=self._seen.tainted,
        )

    # --- tool calls -----------------------------------------------------------------------

    def begin_call(self, turn: int, index: int, call: ToolCall) -> AgentToolCallRecord:
        entry = AgentToolCallRecord(id=call.id, tool=call.name, args=call.arguments)
        self._turns[turn].tool_calls.append(entry)
        return entry

    def end_call(
        self, turn: int, record: AgentToolCallRecord, status: CallStatus, error: str | None
    ) -> None:
        if status != "completed":
            record.status, record.error = status, error
        self._journal.emit(
            RunEventType.AGENT_TOOL_CALL,
            self._step.id,
            {"turn": turn, **record.model_dump(mode="json")},
        )

    def needs_approval(self, call: ToolCall) -> bool:
        return call.name in self._tools.approval or call.name in self._tools.side_effects

    async def approve(self, turn: int, index: int, call: ToolCall) -> None:
        try:
            answered = await self._gate.wait(
                self._step,
                {"tool": call.name, "args": call.arguments},
                f"-t{turn}-c{index}",
                reason=f"the agent asks to call {call.name!r}, which has side effects",
                untrusted=self._seen if self._seen.tainted else None,
                action=(call.name, call.arguments),
            )
        except (StepFailed, StepSkipped) as e:
            raise CallRejected(e.reason) from None
        if answered and self._seen.tainted:
            self._approved_after_taint.add((turn, index))

    async def invoke(self, turn: int, index: int, call: ToolCall) -> StepResult:
        run, step = self._run, self._step
        run_id = self._journal.state.run_id
        retry = self._tools.retry_for(step, call.name)
        request = StepInput(
            run_id=run_id,
            step_id=step.id,
            tenant=run.tenant,
            user_id=run.user_id,
            args=call.arguments,
            tool=call.name,
            # Stable across retries and replays: the call id is in the history.
            idempotency_key=f"{run_id}/{step.id}/t{turn}/{index}",
            max_attempts=retry.max_attempts,
        )
        if self._journal.patches.has(EGRESS_PATCH):
            # What the agent read so far may have written this call's URL or query: outside
            # the tenant's allowed domains it waits for a person (below).
            request.roles = run.roles
            request.tainted = self._seen.tainted
        charged = self._journal.patches.has(LEDGER_AGENT_TOOLS_PATCH)
        if charged:
            # A paid call (a web search) is reserved against the run's budget and the runs
            # above it, like the agent's model turns.
            request.budget = self._journal.budget(run)
        while True:
            try:
                return await step_activity(
                    Activity.INVOKE_TOOL,
                    request,
                    StepResult,
                    step,
                    retry,
                    summary=f"{step.title}: {call.name} (turn {turn})",
                    queues=run.activity_queues,
                )
            except ActivityError as e:
                # Over a cap the run stops with the reason (or waits for the cap to be raised),
                # as for a model turn.
                if charged and await retry_when_cap_raised(
                    self._gate, e, step, self._args, f"-t{turn}-{index}"
                ):
                    continue
                refused = egress_refused(e)
                doubt = call_in_doubt(e)
                if (
                    doubt is not None
                    and not request.resend_in_doubt
                    and self._journal.patches.has(MCP_IN_DOUBT_PATCH)
                ):
                    if not await self._resend(turn, index, call, doubt):
                        return StepResult(output={"in_doubt": True, "sent_again": False})
                    request.resend_in_doubt = True
                    continue
                if refused is None or request.egress_approved:
                    raise CallFailed(failure_reason(e)) from None
                if (turn, index) in self._approved_after_taint and self._journal.patches.has(
                    ONE_APPROVAL_AFTER_TAINT_PATCH
                ):
                    # Already approved by a person who was shown the untrusted sources.
                    request.egress_approved = True
                    continue
            try:
                await self._gate.wait(
                    self._step,
                    {"tool": call.name, "args": call.arguments},
                    f"-t{turn}-c{index}-egress",
                    reason=refused,
                    untrusted=self._seen,
                    action=(call.name, call.arguments),
                )
            except (StepFailed, StepSkipped) as e:
                raise CallFailed(f"a reviewer did not allow this call: {e.reason}") from None
            request.egress_approved = True

    async def _resend(self, turn: int, index: int, call: ToolCall, doubt: str) -> bool:
        """A call in doubt: a person looks on the server and says whether to send it again."""
        try:
            await self._gate.wait(
                self._step,
                {"tool": call.name, "args": call.arguments},
                f"-t{turn}-c{index}-in-doubt",
                reason=f"{doubt}. Approve to send it once more (it did not happen); reject if "
                "it happened (the agent is told it was not sent again)",
            )
        except (StepFailed, StepSkipped):
            return False
        return True

    def observe(self, turn: int, call: ToolCall, result: StepResult) -> None:
        """The taint rules: the guardrails' findings are recorded, and an untrusted result
        taints what the agent does next (a later side effect names it when asking approval)."""
        self._journal.record_findings(self._step.id, result.findings)
        if result.untrusted:
            self._seen.add(Taint(sources=[f"{call.name} (turn {turn})"], findings=result.findings))
