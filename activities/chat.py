"""A chat turn, one model round at a time.

Each round, the user's message is stored (once), the conversation before it (summary and recent
messages), the knowledge base's best passages and the user's memory make the prompt, and the model
either answers with citations or asks for tool calls. Only tools that write nothing and need no
approval are offered (the caller's roles permitting, `AIOS_CHAT_TOOLS` narrowing them); the
session's workflow runs each call as an ordinary `aios.invoke_tool` activity and sends the results
back in the next round, fenced as data. The last round offers no tools, so a turn always ends in a
reply. The reply is stored; a retried round finds it and does not ask the model again. What the
rounds of a turn share (the conversation before it, the passages, the user's facts) is read in
its first round and kept by the worker for the later ones; a round on another worker reads it
again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass

from temporalio import activity

from activities import context
from activities.common import classified
from activities.knowledge import KnowledgeIndex, SearchMode
from activities.llm.activities import LlmActivities
from activities.llm.base import Message
from activities.llm.caller import ModelCaller
from activities.llm.tool_round import ToolOffer, model_round
from activities.memory import MemoryService
from activities.rag import RetrieveArgs, retrieve
from activities.tools.registry import ToolRegistry
from aios.errors import BadModelOutput
from aios.guardrails import guard_answer
from aios.models import ChatReply, ChatStepInput, ChatStepResult, ChatTurnInput
from aios.vocabulary import Activity

log = logging.getLogger(__name__)

CHAT_SYSTEM = (
    "You are AIOS's assistant, in a conversation. Answer briefly and precisely. When the numbered "
    "documents help, use them and cite them like [1]; when they do not cover the question, say so "
    "rather than guessing."
)
TOOLS_NOTE = (
    "You may call the tools you are given when they help answer (looking something up, "
    "computing); then answer with no tool calls."
)
CONTEXT_TOKENS = 3000
# A reply, and the text streamed while it is written, have secrets redacted; personal data stays
# (the conversation is the user's own, and the memory layer redacts what it keeps).
CHAT_REDACTS_PII = False
EVERY_SAFE_TOOL = "*"
# Turns whose shared context a worker keeps: a turn lasts seconds, so this covers every turn in
# flight with room to spare.
KEPT_TURNS = 256


@dataclass(frozen=True)
class _TurnContext:
    """What every round of one turn puts in its prompt."""

    history: list[Message]  # the conversation before the turn (summary and recent messages)
    documents: list[context.ContextDocument]
    known: str  # the user's facts, one per line


class ChatActivities:
    def __init__(
        self,
        llm: LlmActivities,
        registry: ToolRegistry,
        index: KnowledgeIndex,
        memory: MemoryService,
        *,
        tools: list[str] | None = None,
    ) -> None:
        self._llm = llm
        self._registry = registry
        self._index = index
        self._memory = memory
        # Which tools chat may offer: "*" every tool without side effects; otherwise these names
        # (still only those without side effects).
        self._tools = [EVERY_SAFE_TOOL] if tools is None else tools
        self._turns: OrderedDict[tuple[str, str, str], _TurnContext] = OrderedDict()
        # Summaries folded after replies (held so the loop does not drop them half-way).
        self._folding: set[asyncio.Task[None]] = set()

    @activity.defn(name=Activity.CHAT_STEP)
    @classified
    async def chat_step(self, request: ChatStepInput) -> ChatStepResult:
        return await self._round(request, self._offered(request))

    @activity.defn(name=Activity.CHAT_TURN)
    @classified
    async def chat_turn(self, request: ChatTurnInput) -> ChatReply:
        """A whole turn in one model call, no tools: sessions started before chat had tools
        still send their turns here until they continue as new."""
        step = await self._round(ChatStepInput(**request.model_dump()), offered=[])
        assert step.reply is not None  # no tools offered: the round ends in a reply
        return step.reply

    def _offered(self, request: ChatStepInput) -> list[str]:
        if request.round >= request.max_rounds:
            return []
        safe = self._registry.without_side_effects(request.roles, tenant=request.tenant)
        if EVERY_SAFE_TOOL in self._tools:
            return safe
        return [name for name in safe if name in self._tools]

    async def _turn_context(self, request: ChatStepInput, caller: ModelCaller) -> _TurnContext:
        """The turn's context: kept from its first round on this worker, or read now (storing
        the user's message first, once whatever the round or attempt)."""
        turn = request.turn
        key = (request.tenant, request.session_id, turn.message_id)
        kept = self._turns.get(key)
        if kept is not None:
            self._turns.move_to_end(key)
            return kept
        seq = await self._memory.append_message(
            request.tenant,
            request.session_id,
            role="user",
            content=turn.message,
            message_id=turn.message_id,
            user_id=request.user_id,
        )
        # The three reads are independent: the turn waits for the slowest, not for their sum.
        history, found, facts = await asyncio.gather(
            self._memory.conversation(
                request.tenant,
                request.session_id,
                caller=caller,
                user_id=request.user_id,
                before_seq=seq,
            ),
            retrieve(
                self._index,
                request.tenant,
                RetrieveArgs(
                    query=turn.message, k=6, max_sources=3, mode=SearchMode.HYBRID, quotes=0
                ),
            ),
            self._memory.facts.live(request.tenant, request.user_id),
        )
        shared = _TurnContext(
            history=history,
            documents=context.normalize([s.model_dump() for s in found.sources]),
            known="\n".join(f"- {f.key}: {f.value}" for f in facts),
        )
        self._turns[key] = shared
        while len(self._turns) > KEPT_TURNS:
            self._turns.popitem(last=False)
        return shared

    def _fold_after_reply(self, request: ChatStepInput, caller: ModelCaller) -> None:
        """Fold the session's older messages into its summary once the reply is out: the next
        turn finds it ready instead of waiting for the fast model before answering. Lost if
        the worker stops first; a later turn folds then (`MemoryService.conversation`). Its
        cost is the user's like the turn's (the same caller: the spend ledger's scopes)."""

        async def fold() -> None:
            try:
                await self._memory.fold(
                    request.tenant, request.session_id, caller=caller, user_id=request.user_id
                )
            except Exception as e:  # a saving of time, never a reason for anything to fail
                log.warning(
                    "folding chat session %s into its summary failed: %s", request.session_id, e
                )

        task = asyncio.create_task(fold())
        self._folding.add(task)
        task.add_done_callback(self._folding.discard)

    async def _round(self, request: ChatStepInput, offered: list[str]) -> ChatStepResult:
        turn = request.turn
        reply_id = f"{turn.message_id}/reply"
        stored = await self._memory.conversations.message(
            request.tenant, request.session_id, reply_id
        )
        if stored is not None:  # a retry after the answer was saved
            reply = ChatReply(session_id=request.session_id, reply=stored.content, grounded=True)
            return ChatStepResult(reply=reply)
        caller = self._llm.caller(
            None, request.max_attempts, tenant=request.tenant, user_id=request.user_id
        )
        shared = await self._turn_context(request, caller)
        documents = shared.documents
        system = CHAT_SYSTEM + (
            f"\nWhat you know about the user:\n{shared.known}" if shared.known else ""
        )
        opening = context.build_messages(
            instruction=turn.message,
            documents=documents,
            system=system + ("\n" + TOOLS_NOTE if offered else ""),
            budget_tokens=CONTEXT_TOKENS,
            cite=bool(documents),
        )
        offer = ToolOffer.of(self._registry, offered)
        round_ = await model_round(
            caller,
            "strong",
            offer,
            system=opening[0],
            question=opening[1],
            conversation=request.conversation,
            earlier=shared.history,
            offering=bool(offered),
            max_tokens=500,
            temperature=0.3,
            # Streamed to `POST /v1/chat` callers asking for text/event-stream, keyed by the
            # session's workflow and the message (the reply itself comes back through the update).
            deltas=self._llm.deltas(
                activity.info().workflow_id or "",
                turn.message_id,
                redact_pii=CHAT_REDACTS_PII,
                fence=offer.fence,
                eager=True,
            ),
        )
        outcome = round_.outcome
        if round_.asks:
            return ChatStepResult(
                asks=round_.message,
                offered=offered,
                usage=caller.usage,
                untrusted=bool(documents),
            )
        if not round_.message.content:
            raise BadModelOutput(f"{outcome.spec} returned an empty reply")
        text, _findings = guard_answer(
            round_.message.content, redact_pii=CHAT_REDACTS_PII, policy=self._llm.content_policy
        )
        text = context.without_fences(text, offer.fence)
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
        self._fold_after_reply(request, caller)
        reply = ChatReply(
            session_id=request.session_id,
            reply=text,
            citations=cited,
            grounded=bool(cited),
            usage=caller.usage,
        )
        return ChatStepResult(reply=reply, usage=caller.usage, untrusted=bool(documents))
