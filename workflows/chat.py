"""`ChatSessionWorkflow`: one long-lived workflow per chat session; each turn is an update.

The conversation lives in PostgreSQL (conversation memory), not in the history. A turn is a small
agent loop: a model round (an activity that stores the message, reads the conversation, retrieves
from the knowledge base and recalls the user's memory) either replies or asks for tool calls; the
calls run in parallel as `aios.invoke_tool` activities, like a run's, and their results go to the
next round. Chat offers only tools that write nothing and need no approval; the last round offers
none, so every turn ends in a reply. After `turns_per_run` turns, once every update handler has
finished, the session continues as new, so its history never grows without bound. A session with
no turn for a day ends; the next message starts it again (update-with-start).
"""

from __future__ import annotations

import asyncio
import json
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

from workflows.dag import gather_or_cancel

IDLE = timedelta(hours=24)
TURN_TIMEOUT = timedelta(minutes=5)
TURN_RETRY = RetryPolicy(maximum_attempts=4, initial_interval=timedelta(seconds=1))
TOOL_RETRY = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1))
# Model rounds per turn: up to MAX_ROUNDS - 1 with tools, then one that has to reply.
MAX_ROUNDS = 4
# Sessions that started before chat turns could call tools send their turns the old way.
TOOLS_PATCH = "chat-tools"


@workflow.defn
class ChatSessionWorkflow:
    @workflow.init
    def __init__(self, session: ChatSessionInput) -> None:
        # Set here, not in `run`: the first turn's update may be handled before `run` starts.
        self._session = session
        self._turns_this_run = 0
        self._last_turn_at = workflow.now()

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
            workflow.continue_as_new(
                session.model_copy(update={"turns": session.turns + self._turns_this_run})
            )

    @workflow.update
    async def send(self, turn: ChatTurn) -> ChatReply:
        self._last_turn_at = workflow.now()
        number = self._session.turns + self._turns_this_run + 1  # for the activities' summaries
        if workflow.patched(TOOLS_PATCH):
            reply = await self._turn_with_tools(turn, number)
        else:
            reply = await self._turn_without_tools(turn, number)
        self._turns_this_run += 1
        reply.turn = self._session.turns + self._turns_this_run
        return reply

    async def _turn_with_tools(self, turn: ChatTurn, number: int) -> ChatReply:
        session = self._session
        conversation: list[Message] = []
        used: list[ChatToolUse] = []
        usage = Usage()
        for round_ in range(1, MAX_ROUNDS + 1):
            step: ChatStepResult = await workflow.execute_activity(
                Activity.CHAT_STEP,
                ChatStepInput(
                    session_id=session.session_id,
                    tenant=session.tenant,
                    user_id=session.user_id,
                    roles=session.roles,
                    turn=turn,
                    round=round_,
                    max_rounds=MAX_ROUNDS,
                    conversation=conversation,
                    max_attempts=TURN_RETRY.maximum_attempts,
                ),
                result_type=ChatStepResult,
                start_to_close_timeout=TURN_TIMEOUT,
                retry_policy=TURN_RETRY,
                summary=f"chat turn {number}, round {round_}",
            )
            usage += step.usage
            if step.reply is not None:
                return step.reply.model_copy(update={"usage": usage, "tools_used": used})
            if step.asks is None:  # neither: not something this version of the activity does
                break
            conversation.append(step.asks)
            calls = [
                asyncio.create_task(self._call_tool(turn, round_, index, call, step.offered, used))
                for index, call in enumerate(step.asks.tool_calls)
            ]
            conversation.extend(await gather_or_cancel(calls))
        raise ApplicationError(  # unreachable while the last round offers no tools
            f"chat turn {number} ended without a reply", non_retryable=True
        )

    async def _call_tool(
        self,
        turn: ChatTurn,
        round_: int,
        index: int,
        call: ToolCall,
        offered: list[str],
        used: list[ChatToolUse],
    ) -> Message:
        """One tool call the model asked for, as the answer the model reads next round (errors
        included, so it can correct itself)."""
        session = self._session
        record = ChatToolUse(tool=call.name, args=call.arguments, round=round_)
        used.append(record)
        if call.name not in offered:
            record.status, record.error = "refused", "not one of the tools offered"
            content = f"error: tool {call.name!r} is not available; use one of {offered}"
            return Message(role="tool", tool_call_id=call.id, content=content)
        try:
            result: StepResult = await workflow.execute_activity(
                Activity.INVOKE_TOOL,
                StepInput(
                    run_id=workflow.info().workflow_id,
                    step_id=turn.message_id,
                    tenant=session.tenant,
                    user_id=session.user_id,
                    args=call.arguments,
                    tool=call.name,
                    idempotency_key=f"{turn.message_id}/r{round_}/{index}",
                    max_attempts=TOOL_RETRY.maximum_attempts or 0,
                ),
                result_type=StepResult,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=TOOL_RETRY,
                task_queue=queue_for(Activity.INVOKE_TOOL, session.activity_queues),
                summary=f"chat: {call.name}",
            )
        except ActivityError as e:
            cause = e.cause if e.cause is not None else e
            record.status, record.error = "failed", str(cause)
            return Message(role="tool", tool_call_id=call.id, content=f"error: {cause}")
        return Message(
            role="tool", tool_call_id=call.id, content=json.dumps(result.output, default=str)
        )

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
