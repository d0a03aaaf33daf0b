"""Memory: conversation (PostgreSQL), user facts and preferences (PostgreSQL), semantic memories
(Qdrant, embedded), behind one `MemoryService` that `memory` steps, the `memory_read` /
`memory_write` tools and `/v1/users/{id}/memory` all use.

Every text stored passes the redaction seam (`aios.redaction`). Writes have deterministic ids
(from the run, step and content), so a retried write replaces itself instead of adding a copy.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel, Field
from temporalio import activity

from activities.common import classified, parse_args
from activities.knowledge.embeddings import TextEmbedder, collection_slug
from activities.llm.base import LLMRequest
from activities.llm.caller import ModelCaller, ModelCallers
from aios.config import Settings
from aios.errors import UserError
from aios.guardrails import PiiRedactor
from aios.models import Message, StepInput, StepResult
from aios.redaction import KeepAsIs, Redactor
from aios.stores.memory import (
    ConversationMessage,
    ConversationStore,
    FactKind,
    UserFact,
    UserFactStore,
)
from aios.stores.vectors import CollectionSpec, VectorStore
from aios.vocabulary import Activity

_MEMORY_NAMESPACE = uuid.UUID("0b8f3c1e-5d4a-4f7b-9a2e-6c1d8e3f2a90")
# Messages kept verbatim at the end of a conversation's context; older ones are summarised.
RECENT_MESSAGES = 12
# Folding (after a reply) waits until this many messages more than RECENT_MESSAGES are
# unsummarised: one fast-model call every couple of turns, not one a turn.
FOLD_EVERY = 4
# How far the summary may lag (a fold still running, or lost with a worker) before a turn folds
# first, before its answer: a prompt shows at most this many messages more verbatim.
FOLD_SLACK = 10


class FactIn(BaseModel):
    key: str = Field(min_length=1, max_length=200)
    value: str = Field(min_length=1, max_length=4000)
    kind: FactKind = "fact"
    ttl_s: float | None = Field(default=None, gt=0, le=10 * 365 * 86400)


class MemoryItem(BaseModel):
    id: str
    text: str
    score: float | None = None
    provenance: dict[str, Any] = Field(default_factory=dict)
    created_at: str | None = None


class FactOut(BaseModel):
    key: str
    value: str
    kind: FactKind
    provenance: dict[str, Any]
    expires_at: datetime | None
    updated_at: datetime | None


class MemoryRead(BaseModel):
    facts: list[FactOut] = Field(default_factory=list)
    memories: list[MemoryItem] = Field(default_factory=list)


class ForgetReport(BaseModel):
    """What forgetting a user deleted, store by store."""

    user_id: str
    facts: int
    memories: int
    messages: int
    summaries: int


def memory_id_for(tenant: str, user_id: str, key: str) -> str:
    return str(uuid.uuid5(_MEMORY_NAMESPACE, f"{tenant}\0{user_id}\0{key}"))


def open_memory(
    settings: Settings,
    pool: asyncpg.Pool,
    vectors: VectorStore,
    embedder: TextEmbedder,
    redactor: Redactor | None = None,
) -> MemoryService:
    return MemoryService(
        UserFactStore(pool),
        ConversationStore(pool),
        SemanticMemory(vectors, embedder, settings.memory_collection),
        redactor or PiiRedactor(),
    )


class SemanticMemory:
    """Embedded memories in their own Qdrant collection, tagged with tenant and user."""

    def __init__(
        self, vectors: VectorStore, embedder: TextEmbedder, collection_prefix: str
    ) -> None:
        self._vectors = vectors
        self._embedder = embedder
        self.collection = f"{collection_prefix}__{collection_slug(embedder.name)}"
        self._ready = False

    async def _ensure(self) -> None:
        if not self._ready:
            await self._vectors.ensure(
                CollectionSpec(
                    name=self.collection,
                    dense_size=await self._embedder.dimension(),
                    keyword_fields=("tenant", "user_id"),
                )
            )
            self._ready = True

    async def remember(
        self, tenant: str, user_id: str, text: str, memory_id: str, provenance: dict[str, Any]
    ) -> None:
        from aios.stores.vectors import VectorPoint

        await self._ensure()
        [vector] = await self._embedder.embed([text])
        payload = {
            "tenant": tenant,
            "user_id": user_id,
            "text": text,
            "provenance": provenance,
            "created_at": datetime.now(UTC).isoformat(),
        }
        await self._vectors.upsert(
            self.collection, [VectorPoint(id=memory_id, dense=vector, payload=payload)]
        )

    async def recall(self, tenant: str, user_id: str, query: str, k: int) -> list[MemoryItem]:
        await self._ensure()
        [vector] = await self._embedder.embed([query])
        hits = await self._vectors.search(
            self.collection, equals={"tenant": tenant, "user_id": user_id}, limit=k, dense=vector
        )
        return [_item(h.id, h.payload, round(h.score, 4)) for h in hits]

    async def list(self, tenant: str, user_id: str, limit: int = 100) -> list[MemoryItem]:
        await self._ensure()
        hits = await self._vectors.scroll_where(
            self.collection, {"tenant": tenant, "user_id": user_id}, limit
        )
        return sorted(
            (_item(h.id, h.payload, None) for h in hits), key=lambda m: m.created_at or ""
        )

    async def forget(self, tenant: str, user_id: str) -> int:
        await self._ensure()
        return await self._vectors.delete_where(
            self.collection, {"tenant": tenant, "user_id": user_id}
        )

    async def forget_tenant(self, tenant: str) -> int:
        """Every memory of every user of the tenant."""
        await self._ensure()
        return await self._vectors.delete_where(self.collection, {"tenant": tenant})


def _item(memory_id: str, payload: dict[str, Any], score: float | None) -> MemoryItem:
    return MemoryItem(
        id=memory_id,
        text=str(payload.get("text", "")),
        score=score,
        provenance=dict(payload.get("provenance") or {}),
        created_at=payload.get("created_at"),
    )


class MemoryService:
    def __init__(
        self,
        facts: UserFactStore,
        conversations: ConversationStore,
        semantic: SemanticMemory,
        redactor: Redactor | None = None,
    ) -> None:
        self.facts = facts
        self.conversations = conversations
        self.semantic = semantic
        self.redactor = redactor or KeepAsIs()

    async def write_facts(
        self, tenant: str, user_id: str, facts: list[FactIn], provenance: dict[str, Any]
    ) -> None:
        now = datetime.now(UTC)
        await self.facts.upsert(
            tenant,
            user_id,
            [
                UserFact(
                    key=f.key,
                    value=self.redactor.redact(f.value),
                    kind=f.kind,
                    provenance=provenance,
                    expires_at=now + timedelta(seconds=f.ttl_s) if f.ttl_s else None,
                )
                for f in facts
            ],
        )

    async def remember(
        self, tenant: str, user_id: str, text: str, key: str, provenance: dict[str, Any]
    ) -> str:
        """Store a semantic memory under an id derived from `key` (the same key twice writes
        the same memory)."""
        memory_id = memory_id_for(tenant, user_id, key)
        await self.semantic.remember(
            tenant, user_id, self.redactor.redact(text), memory_id, provenance
        )
        return memory_id

    async def read(self, tenant: str, user_id: str, query: str | None, k: int) -> MemoryRead:
        facts = await self.facts.live(tenant, user_id)
        memories = (
            await self.semantic.recall(tenant, user_id, query, k)
            if query
            else await self.semantic.list(tenant, user_id, k)
        )
        return MemoryRead(facts=[FactOut(**vars(f)) for f in facts], memories=memories)

    async def forget_user(self, tenant: str, user_id: str) -> ForgetReport:
        facts = await self.facts.delete(tenant, user_id)
        memories = await self.semantic.forget(tenant, user_id)
        messages, summaries = await self.conversations.forget_user(tenant, user_id)
        return ForgetReport(
            user_id=user_id,
            facts=facts,
            memories=memories,
            messages=messages,
            summaries=summaries,
        )

    async def append_message(
        self,
        tenant: str,
        session_id: str,
        *,
        role: str,
        content: str,
        message_id: str,
        user_id: str | None,
    ) -> int:
        return await self.conversations.append(
            tenant,
            session_id,
            role=role,
            content=self.redactor.redact(content),
            message_id=message_id,
            user_id=user_id,
        )

    async def conversation(
        self,
        tenant: str,
        session_id: str,
        *,
        caller: ModelCaller | None,
        user_id: str | None = None,
        before_seq: int | None = None,
    ) -> list[Message]:
        """The session as prompt messages (those before `before_seq`, when given): the summary of
        the older part and the recent messages verbatim. Folding older messages into the summary
        is `fold`'s work, done after a reply (off the turn's path); only when it fell more than
        FOLD_SLACK messages behind is it done here, before the answer, with the fast model."""
        summary, through = await self.conversations.summary(tenant, session_id)
        recent = await self.conversations.messages(
            tenant, session_id, after_seq=through, before_seq=before_seq
        )
        if caller is not None and len(recent) > RECENT_MESSAGES + FOLD_SLACK:
            summary = await self._folded(tenant, session_id, caller, user_id, summary, recent)
            recent = recent[-RECENT_MESSAGES:]
        messages = [Message(role=m.role, content=m.content) for m in recent]
        if summary:
            messages.insert(
                0, Message(role="system", content=f"Summary of the conversation so far:\n{summary}")
            )
        return messages

    async def fold(
        self, tenant: str, session_id: str, *, caller: ModelCaller, user_id: str | None = None
    ) -> None:
        """Fold what lies beyond the last RECENT_MESSAGES into the session's summary once more
        than FOLD_EVERY messages do: after a turn's reply, so that the next turn finds the
        summary ready."""
        summary, through = await self.conversations.summary(tenant, session_id)
        recent = await self.conversations.messages(tenant, session_id, after_seq=through)
        if len(recent) > RECENT_MESSAGES + FOLD_EVERY:
            await self._folded(tenant, session_id, caller, user_id, summary, recent)

    async def _folded(
        self,
        tenant: str,
        session_id: str,
        caller: ModelCaller,
        user_id: str | None,
        summary: str,
        recent: list[ConversationMessage],
    ) -> str:
        """The summary with the messages before the last RECENT_MESSAGES of `recent` folded in,
        saved (a fold that lost a race to a newer one changes nothing: `save_summary`)."""
        older = recent[:-RECENT_MESSAGES]
        transcript = "\n".join(f"{m.role}: {m.content}" for m in older)
        outcome = await caller.call(
            "fast",
            LLMRequest(
                model="",
                messages=[
                    Message(
                        role="system",
                        content="Summarise conversations faithfully and briefly. Keep "
                        "names, numbers, decisions and open questions.",
                    ),
                    Message(
                        role="user",
                        content=(f"Summary so far:\n{summary}\n\n" if summary else "")
                        + f"New messages:\n{transcript}\n\nWrite the updated summary.",
                    ),
                ],
                max_tokens=300,
                temperature=0.1,
            ),
        )
        folded = outcome.response.text.strip()
        await self.conversations.save_summary(tenant, session_id, folded, older[-1].seq, user_id)
        return folded


# --- the `memory` step ------------------------------------------------------------------------


class MemoryStepArgs(BaseModel):
    """`read`: the user's facts and the memories closest to `query` (or the latest ones).
    `write`: `facts` as key/value pairs, and/or `text` as a semantic memory. `conversation` adds
    the run's session (summary and recent messages) to a read."""

    op: Literal["read", "write"]
    query: str | None = Field(default=None, max_length=4000)
    k: int = Field(default=5, ge=1, le=50)
    text: str | None = Field(default=None, min_length=1, max_length=20_000)
    facts: list[FactIn] = Field(default_factory=list, max_length=100)
    session_id: str | None = Field(default=None, max_length=200)
    conversation: bool = False


class MemoryActivities:
    def __init__(self, memory: MemoryService, llm: ModelCallers) -> None:
        self._memory = memory
        # Summaries are model calls like any other: reserved and settled in the spend ledger
        # under the run's budget, the user's and the tenant's caps (LlmActivities.caller).
        self._llm = llm

    @activity.defn(name=Activity.MEMORY)
    @classified
    async def memory(self, step: StepInput) -> StepResult:
        args: MemoryStepArgs = parse_args(MemoryStepArgs, step.args, "a memory step")
        provenance = {"run_id": step.run_id, "step_id": step.step_id}
        info = activity.info()
        # A paid embedding model's requests (remember, recall) are charged as model calls are.
        self._llm.account(step.budget, tenant=step.tenant, user_id=step.user_id)
        if args.op == "write":
            if not args.text and not args.facts:
                raise UserError("a memory write needs `text`, `facts` or both")
            output: dict[str, Any] = {"facts": [f.key for f in args.facts]}
            if args.facts:
                await self._memory.write_facts(step.tenant, step.user_id, args.facts, provenance)
            if args.text:
                # Keyed on the step, so a retried (or replayed) write is the same memory.
                output["memory_id"] = await self._memory.remember(
                    step.tenant, step.user_id, args.text, step.idempotency_key, provenance
                )
            return StepResult(output=output, attempt=info.attempt)
        read = await self._memory.read(step.tenant, step.user_id, args.query, args.k)
        output = read.model_dump(mode="json")
        if args.conversation and args.session_id:
            caller = self._llm.caller(step.budget, 0, tenant=step.tenant, user_id=step.user_id)
            messages = await self._memory.conversation(
                step.tenant, args.session_id, caller=caller, user_id=step.user_id
            )
            output["conversation"] = [m.model_dump() for m in messages]
            return StepResult(output=output, attempt=info.attempt, usage=caller.usage)
        return StepResult(output=output, attempt=info.attempt)
