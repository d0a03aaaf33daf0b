"""`ChatSessionWorkflow`: one long-lived workflow per chat session; each turn is an update.

The conversation lives in PostgreSQL (conversation memory), not in the history: a turn is one
activity that reads it, answers and appends to it. After `turns_per_run` turns, once every update
handler has finished, the session continues as new, so its history never grows without bound. A
session with no turn for a day ends; the next message starts it again (update-with-start).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from aios.models import ChatReply, ChatSessionInput, ChatTurn, ChatTurnInput
    from aios.vocabulary import Activity

IDLE = timedelta(hours=24)
TURN_RETRY = RetryPolicy(maximum_attempts=4, initial_interval=timedelta(seconds=1))


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
        session = self._session
        self._last_turn_at = workflow.now()
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
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=TURN_RETRY,
            summary=f"chat turn {session.turns + self._turns_this_run + 1}",
        )
        self._turns_this_run += 1
        reply.turn = session.turns + self._turns_this_run
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
