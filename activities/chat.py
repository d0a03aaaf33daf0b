"""One turn of a chat session: the user's message is stored, the conversation (summary and recent
messages), the knowledge base's best passages and the user's memory make the prompt, the model
answers with citations, and the answer is stored. A retried turn finds its stored answer and does
not ask the model again."""

from __future__ import annotations

from temporalio import activity

from activities import context
from activities.common import classified
from activities.knowledge import KnowledgeIndex, SearchMode
from activities.llm.activities import LlmActivities
from activities.llm.base import LLMRequest
from activities.memory import MemoryService
from activities.rag import RetrieveArgs, retrieve
from aios.guardrails import guard_answer
from aios.models import ChatReply, ChatTurnInput
from aios.vocabulary import Activity

CHAT_SYSTEM = (
    "You are AIOS's assistant, in a conversation. Answer briefly and precisely. When the numbered "
    "documents help, use them and cite them like [1]; when they do not cover the question, say so "
    "rather than guessing."
)
CONTEXT_TOKENS = 3000


class ChatActivities:
    def __init__(self, llm: LlmActivities, index: KnowledgeIndex, memory: MemoryService) -> None:
        self._llm = llm
        self._index = index
        self._memory = memory

    @activity.defn(name=Activity.CHAT_TURN)
    @classified
    async def chat_turn(self, request: ChatTurnInput) -> ChatReply:
        turn = request.turn
        reply_id = f"{turn.message_id}/reply"
        conversations = self._memory.conversations
        stored = await conversations.message(request.tenant, request.session_id, reply_id)
        if stored is not None:  # a retry after the answer was saved
            return ChatReply(session_id=request.session_id, reply=stored.content, grounded=True)
        caller = self._llm.caller(None, max_attempts=request.max_attempts)
        history = await self._memory.conversation(
            request.tenant, request.session_id, caller=caller, user_id=request.user_id
        )
        await self._memory.append_message(
            request.tenant,
            request.session_id,
            role="user",
            content=turn.message,
            message_id=turn.message_id,
            user_id=request.user_id,
        )
        found = await retrieve(
            self._index,
            request.tenant,
            RetrieveArgs(query=turn.message, k=6, max_sources=3, mode=SearchMode.HYBRID, quotes=0),
        )
        facts = await self._memory.facts.live(request.tenant, request.user_id)
        documents = context.normalize([s.model_dump() for s in found.sources])
        known = "\n".join(f"- {f.key}: {f.value}" for f in facts)
        system = CHAT_SYSTEM + (f"\nWhat you know about the user:\n{known}" if known else "")
        opening = context.build_messages(
            instruction=turn.message,
            documents=documents,
            system=system,
            budget_tokens=CONTEXT_TOKENS,
            cite=bool(documents),
        )
        messages = [opening[0], *history, opening[1]]
        # Streamed to `POST /v1/chat` callers asking for text/event-stream, keyed by the session's
        # workflow and the message (the reply itself comes back through the update).
        deltas = self._llm.deltas(activity.info().workflow_id or "", turn.message_id)
        outcome = await caller.call(
            "strong",
            LLMRequest(model="", messages=messages, max_tokens=500, temperature=0.3),
            deltas,
        )
        await deltas.flush()
        text, _findings = guard_answer(outcome.response.text.strip(), redact_pii=False)
        numbers = [n for n in context.cited_numbers(text) if 1 <= n <= len(documents)]
        cited = [documents[n - 1].citation() for n in numbers]
        await self._memory.append_message(
            request.tenant,
            request.session_id,
            role="assistant",
            content=text,
            message_id=reply_id,
            user_id=request.user_id,
        )
        return ChatReply(
            session_id=request.session_id,
            reply=text,
            citations=cited,
            grounded=bool(cited),
            usage=caller.usage,
        )
