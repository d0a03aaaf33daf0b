"""`ChatSessionWorkflow`: one long-lived workflow per chat session; each turn is an update.

The conversation lives in PostgreSQL (conversation memory), not in the history. A turn runs the
agent loop that a run's `agent` steps run too (workflows/agent_loop.py), under the chat policy
(`ChatTurnPolicy`): a model round (an activity that stores the message, reads the conversation,
retrieves from the knowledge base and recalls the user's memory) either replies or asks for tool
calls; the calls run in parallel as `aios.invoke_tool` activities, like a run's, and their results
go to the next round. Chat offers only tools that write nothing and need no approval; the last
round offers none, so every turn ends in a reply. After `turns_per_run` turns, once every update
handler has finished, the session continues as new, so its history never grows without bound. A
session with no turn for a day ends; the next message starts it again (update-with-start).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from aios.models import (
        ChatReply,
        ChatSessionInput,
        ChatStepInput,
        ChatStepResult,
        ChatToolUse,
        ChatTurn,
        ChatTurnInput,
        Message,
        StepInput,
        StepResult,
        ToolCall,
        Usage,
    )
    from aios.queues import queue_for
    from aios.vocabulary import Activity

    # Shared with the host like the DAG executor: no state between runs (workflows/agent_run.py).
    from workflows.agent_loop import (
        CallFailed,
        CallRejected,
        CallStatus,
        TurnOutcome,
        run_agent_loop,
    )
    from workflows.patches import CHAT_TAINT_PATCH, CHAT_TOOLS_PATCH, EGRESS_PATCH

IDLE = timedelta(hours=24)
TURN_TIMEOUT = timedelta(minutes=5)
TURN_RETRY = RetryPolicy(maximum_attempts=4, initial_interval=timedelta(seconds=1))
TOOL_RETRY = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1))
TOOL_TIMEOUT = timedelta(minutes=2)
# Model rounds per turn: up to MAX_ROUNDS - 1 with tools, then one that has to reply.
MAX_ROUNDS = 4


@workflow.defn
class ChatSessionWorkflow:
    @workflow.init
    def __init__(self, session: ChatSessionInput) -> None:
        # Set here, not in `run`: the first turn's update may be handled before `run` starts.
        self._session = session
        self._turns_this_run = 0
        self._last_turn_at = workflow.now()
        # Untrusted content entered the conversation (a retrieved passage, a tool's result, in
        # this run or an earlier one): the model sees it in the history of every later turn.
        self._tainted = session.tainted

    @workflow.run
    async def run(self, session: ChatSessionInput) -> int:
        while True:
            try:
                await workflow.wait_condition(
                    lambda: self._turns_this_run >= session.turns_per_run,
                    timeout=IDLE,
                    timeout_summary="chat session idle",
                )
            except TimeoutError:
                if workflow.now() - self._last_turn_at >= IDLE:
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    return session.turns + self._turns_this_run
                continue
            await workflow.wait_condition(workflow.all_handlers_finished)
            carried: dict[str, object] = {"turns": session.turns + self._turns_this_run}
            if self._tainted and workflow.patched(CHAT_TAINT_PATCH):
                carried["tainted"] = True
            workflow.continue_as_new(session.model_copy(update=carried))

    @workflow.update
    async def send(self, turn: ChatTurn) -> ChatReply:
        self._last_turn_at = workflow.now()
        number = self._session.turns + self._turns_this_run + 1  # for the activities' summaries
        if workflow.patched(CHAT_TOOLS_PATCH):
            reply = await self._turn_with_tools(turn, number)
        else:
            reply = await self._turn_without_tools(turn, number)
        self._turns_this_run += 1
        reply.turn = self._session.turns + self._turns_this_run
        return reply

    async def _turn_with_tools(self, turn: ChatTurn, number: int) -> ChatReply:
        # A turn after untrusted content entered the conversation starts tainted: the poisoned
        # text is in the history its model sees. (Sessions started before the gate forgot it.)
        tainted = self._tainted and workflow.patched(CHAT_TAINT_PATCH)
        policy = ChatTurnPolicy(self._session, turn, number, tainted=tainted)
        try:
            return await run_agent_loop(policy)
        finally:
            self._tainted = self._tainted or policy.tainted

    async def _turn_without_tools(self, turn: ChatTurn, number: int) -> ChatReply:
        session = self._session
        reply: ChatReply = await workflow.execute_activity(
            Activity.CHAT_TURN,
            ChatTurnInput(
                session_id=session.session_id,
                tenant=session.tenant,
                user_id=session.user_id,
                turn=turn,
                max_attempts=TURN_RETRY.maximum_attempts,
            ),
            result_type=ChatReply,
            start_to_close_timeout=TURN_TIMEOUT,
            retry_policy=TURN_RETRY,
            summary=f"chat turn {number}",
        )
        return reply

    @send.validator
    def _check(self, turn: ChatTurn) -> None:
        if not turn.message.strip():
            raise ValueError("the message is empty")
        if self._turns_this_run >= self._session.turns_per_run:
            raise ValueError("the session is moving to a new run; send the message again")

    @workflow.query
    def turns(self) -> int:
        return self._session.turns + self._turns_this_run


class ChatTurnPolicy:
    """A chat turn's policy for the agent loop (workflows/agent_loop.py): each round is an
    `aios.chat_step` activity, which offers the tools it chose (only tools that write nothing and
    need no approval, none in the last round) and stores the reply. No call waits for approval:
    nothing chat can call has side effects; once content from outside is in the turn (or was in
    an earlier turn of the session: the model sees it in the history), a call that reaches outside
    goes only to the tenant's allowed domains and carries none of the user's private data (or
    fails, and the model is told why). The calls made are reported with the reply (`tools_used`).
    """

    max_turns = MAX_ROUNDS
    refusal = "not one of the tools offered"

    def __init__(
        self, session: ChatSessionInput, turn: ChatTurn, number: int, *, tainted: bool = False
    ) -> None:
        self._session = session
        self._turn = turn
        self._number = number  # for the activities' summaries
        self._used: list[ChatToolUse] = []
        self._usage = Usage()
        # Content from outside is in the turn's context (retrieved passages, a tool's result,
        # or an earlier turn's, in the conversation): its calls of tools that reach outside go
        # only to the tenant's allowed domains, and carry none of the user's private data.
        self._tainted = tainted

    @property
    def tainted(self) -> bool:
        """Whether untrusted content has entered the conversation, by this turn or before."""
        return self._tainted

    async def model_turn(self, turn: int, conversation: list[Message]) -> TurnOutcome[ChatReply]:
        session = self._session
        step: ChatStepResult = await workflow.execute_activity(
            Activity.CHAT_STEP,
            ChatStepInput(
                session_id=session.session_id,
                tenant=session.tenant,
                user_id=session.user_id,
                roles=session.roles,
                turn=self._turn,
                round=turn,
                max_rounds=MAX_ROUNDS,
                conversation=conversation,
                max_attempts=TURN_RETRY.maximum_attempts,
            ),
            result_type=ChatStepResult,
            start_to_close_timeout=TURN_TIMEOUT,
            retry_policy=TURN_RETRY,
            summary=f"chat turn {self._number}, round {turn}",
        )
        self._usage += step.usage
        self._tainted = self._tainted or step.untrusted
        if step.reply is not None:
            reply = step.reply.model_copy(update={"usage": self._usage, "tools_used": self._used})
            return TurnOutcome(answer=reply)
        # Neither a reply nor asks: not something this version of the activity does.
        return TurnOutcome(asks=step.asks, offered=step.offered)

    def exhausted(self, conversation: list[Message]) -> ChatReply:
        raise ApplicationError(  # unreachable while the last round offers no tools
            f"chat turn {self._number} ended without a reply", non_retryable=True
        )

    def begin_call(self, turn: int, index: int, call: ToolCall) -> ChatToolUse:
        record = ChatToolUse(tool=call.name, args=call.arguments, round=turn)
        self._used.append(record)
        return record

    def end_call(
        self, turn: int, record: ChatToolUse, status: CallStatus, error: str | None
    ) -> None:
        if status == "failed" or status == "refused":
            record.status, record.error = status, error

    def needs_approval(self, call: ToolCall) -> bool:
        return False  # chat offers no tool that needs approval

    async def approve(self, turn: int, index: int, call: ToolCall) -> None:
        raise CallRejected("chat calls no tool that needs approval")

    async def invoke(self, turn: int, index: int, call: ToolCall) -> StepResult:
        session = self._session
        message_id = self._turn.message_id
        request = StepInput(
            run_id=workflow.info().workflow_id,
            step_id=message_id,
            tenant=session.tenant,
            user_id=session.user_id,
            args=call.arguments,
            tool=call.name,
            idempotency_key=f"{message_id}/r{turn}/{index}",
            max_attempts=TOOL_RETRY.maximum_attempts or 0,
        )
        if workflow.patched(EGRESS_PATCH):
            # Nobody approves a chat's calls: outside the allowed domains, a tainted call fails
            # and the model is told why.
            request.roles = session.roles
            request.tainted = self._tainted
        try:
            result: StepResult = await workflow.execute_activity(
                Activity.INVOKE_TOOL,
                request,
                result_type=StepResult,
                start_to_close_timeout=TOOL_TIMEOUT,
                retry_policy=TOOL_RETRY,
                task_queue=queue_for(Activity.INVOKE_TOOL, session.activity_queues),
                summary=f"chat: {call.name}",
            )
        except ActivityError as e:
            raise CallFailed(str(e.cause if e.cause is not None else e)) from None
        return result

    def observe(self, turn: int, call: ToolCall, result: StepResult) -> None:
        # Nothing chat offers writes; but what a tool brought in may write the next call's URL.
        self._tainted = self._tainted or result.untrusted
