"""Memory in PostgreSQL: user facts and preferences, and conversations (messages per session with
a rolling summary). Semantic memories live in Qdrant (`activities/memory.py`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import asyncpg

from aios.db import transient_on_connection_loss

FactKind = Literal["fact", "preference"]


@dataclass(frozen=True)
class UserFact:
    key: str
    value: str
    kind: FactKind = "fact"
    provenance: dict[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ConversationMessage:
    seq: int
    role: str
    content: str
    user_id: str | None = None
    created_at: datetime | None = None


@dataclass
class SessionHeading:
    """A session as a list shows it: whose, how long, when, and how it began."""

    session_id: str
    user_id: str | None
    messages: int
    started_at: datetime
    last_at: datetime
    first_message: str


class UserFactStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def upsert(self, tenant: str, user_id: str, facts: list[UserFact]) -> None:
        async with self._pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO user_facts (tenant, user_id, key, value, kind, provenance, expires_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (tenant, user_id, key) DO UPDATE SET value = $4, kind = $5,"
                " provenance = $6, expires_at = $7, updated_at = now()",
                [
                    (
                        tenant,
                        user_id,
                        f.key,
                        f.value,
                        f.kind,
                        json.dumps(f.provenance),
                        f.expires_at,
                    )
                    for f in facts
                ],
            )

    @transient_on_connection_loss
    async def live(self, tenant: str, user_id: str) -> list[UserFact]:
        """The user's live facts (expired ones are never returned, and are purged here)."""
        await self._pool.execute(
            "DELETE FROM user_facts WHERE tenant = $1 AND user_id = $2 AND expires_at <= now()",
            tenant,
            user_id,
        )
        rows = await self._pool.fetch(
            "SELECT key, value, kind, provenance, expires_at, updated_at FROM user_facts"
            " WHERE tenant = $1 AND user_id = $2 ORDER BY key",
            tenant,
            user_id,
        )
        return [
            UserFact(
                key=r["key"],
                value=r["value"],
                kind=r["kind"],
                provenance=json.loads(r["provenance"]),
                expires_at=r["expires_at"],
                updated_at=r["updated_at"],
            )
            for r in rows
        ]

    @transient_on_connection_loss
    async def delete(self, tenant: str, user_id: str, keys: list[str] | None = None) -> int:
        """Delete some facts of the user, or all of them; how many went."""
        status = await self._pool.execute(
            "DELETE FROM user_facts WHERE tenant = $1 AND user_id = $2"
            " AND ($3::text[] IS NULL OR key = ANY($3))",
            tenant,
            user_id,
            keys,
        )
        return int(status.split()[-1])


class ConversationStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def append(
        self,
        tenant: str,
        session_id: str,
        *,
        role: str,
        content: str,
        message_id: str,
        user_id: str | None = None,
    ) -> int:
        """Add a message at the end of the session; a message id seen before is not added again
        (a retried write). Returns the message's sequence number."""
        async with self._pool.acquire() as conn, conn.transaction():
            # One writer per session at a time, so sequence numbers never collide.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"conversation/{tenant}/{session_id}"
            )
            existing = await conn.fetchval(
                "SELECT seq FROM conversation_messages"
                " WHERE tenant = $1 AND session_id = $2 AND message_id = $3",
                tenant,
                session_id,
                message_id,
            )
            if existing is not None:
                return int(existing)
            seq = await conn.fetchval(
                "INSERT INTO conversation_messages"
                " (tenant, session_id, seq, user_id, role, content, message_id)"
                " SELECT $1, $2, coalesce(max(seq), 0) + 1, $3, $4, $5, $6"
                " FROM conversation_messages WHERE tenant = $1 AND session_id = $2"
                " RETURNING seq",
                tenant,
                session_id,
                user_id,
                role,
                content,
                message_id,
            )
            return int(seq)

    @transient_on_connection_loss
    async def sessions(
        self, tenant: str, user_id: str | None, *, limit: int, before: datetime | None = None
    ) -> list[SessionHeading]:
        """The sessions of `user_id` (every user's: None), latest activity first, those last
        active before `before` when given (the next page)."""
        rows = await self._pool.fetch(
            "SELECT session_id, min(user_id) AS user_id, count(*) AS messages,"
            " min(created_at) AS started_at, max(created_at) AS last_at,"
            " (array_agg(content ORDER BY seq) FILTER (WHERE role = 'user'))[1] AS first_message"
            " FROM conversation_messages WHERE tenant = $1"
            " AND ($2::text IS NULL OR user_id = $2)"
            " GROUP BY session_id"
            " HAVING ($3::timestamptz IS NULL OR max(created_at) < $3)"
            " ORDER BY last_at DESC, session_id LIMIT $4",
            tenant,
            user_id,
            before,
            limit,
        )
        return [
            SessionHeading(**{**dict(r), "first_message": r["first_message"] or ""}) for r in rows
        ]

    @transient_on_connection_loss
    async def session_messages(self, tenant: str, session_id: str) -> list[ConversationMessage]:
        """Every message of the session with its time, in order."""
        rows = await self._pool.fetch(
            "SELECT seq, role, content, user_id, created_at FROM conversation_messages"
            " WHERE tenant = $1 AND session_id = $2 ORDER BY seq",
            tenant,
            session_id,
        )
        return [ConversationMessage(**dict(r)) for r in rows]

    @transient_on_connection_loss
    async def has_other_user(self, tenant: str, session_id: str, user_id: str) -> bool:
        """Whether a message of the session belongs to someone other than `user_id`."""
        found = await self._pool.fetchval(
            "SELECT 1 FROM conversation_messages WHERE tenant = $1 AND session_id = $2"
            " AND user_id IS DISTINCT FROM $3 LIMIT 1",
            tenant,
            session_id,
            user_id,
        )
        return found is not None

    @transient_on_connection_loss
    async def message(
        self, tenant: str, session_id: str, message_id: str
    ) -> ConversationMessage | None:
        row = await self._pool.fetchrow(
            "SELECT seq, role, content, user_id FROM conversation_messages"
            " WHERE tenant = $1 AND session_id = $2 AND message_id = $3",
            tenant,
            session_id,
            message_id,
        )
        return ConversationMessage(**dict(row)) if row else None

    @transient_on_connection_loss
    async def messages(
        self, tenant: str, session_id: str, *, after_seq: int = 0, before_seq: int | None = None
    ) -> list[ConversationMessage]:
        rows = await self._pool.fetch(
            "SELECT seq, role, content, user_id FROM conversation_messages"
            " WHERE tenant = $1 AND session_id = $2 AND seq > $3"
            " AND ($4::bigint IS NULL OR seq < $4) ORDER BY seq",
            tenant,
            session_id,
            after_seq,
            before_seq,
        )
        return [ConversationMessage(**dict(r)) for r in rows]

    @transient_on_connection_loss
    async def summary(self, tenant: str, session_id: str) -> tuple[str, int]:
        """The session's summary and the last message it covers ("", 0 when none)."""
        row = await self._pool.fetchrow(
            "SELECT summary, through_seq FROM conversation_summaries"
            " WHERE tenant = $1 AND session_id = $2",
            tenant,
            session_id,
        )
        return (row["summary"], int(row["through_seq"])) if row else ("", 0)

    @transient_on_connection_loss
    async def save_summary(
        self, tenant: str, session_id: str, summary: str, through_seq: int, user_id: str | None
    ) -> None:
        await self._pool.execute(
            "INSERT INTO conversation_summaries (tenant, session_id, user_id, summary, through_seq)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, session_id) DO UPDATE"
            " SET summary = $4, through_seq = $5, updated_at = now()"
            " WHERE conversation_summaries.through_seq < $5",
            tenant,
            session_id,
            user_id,
            summary,
            through_seq,
        )

    @transient_on_connection_loss
    async def forget_user(self, tenant: str, user_id: str) -> tuple[int, int]:
        """Delete the sessions the user took part in: (messages, summaries) deleted."""
        async with self._pool.acquire() as conn, conn.transaction():
            sessions = [
                r["session_id"]
                for r in await conn.fetch(
                    "SELECT DISTINCT session_id FROM conversation_messages"
                    " WHERE tenant = $1 AND user_id = $2"
                    " UNION SELECT session_id FROM conversation_summaries"
                    " WHERE tenant = $1 AND user_id = $2",
                    tenant,
                    user_id,
                )
            ]
            # The whole of each session goes (the assistant's replies repeat what the user said),
            # and its summary with it.
            messages = await conn.execute(
                "DELETE FROM conversation_messages WHERE tenant = $1 AND session_id = ANY($2)",
                tenant,
                sessions,
            )
            summaries = await conn.execute(
                "DELETE FROM conversation_summaries WHERE tenant = $1 AND session_id = ANY($2)",
                tenant,
                sessions,
            )
        return int(messages.split()[-1]), int(summaries.split()[-1])
