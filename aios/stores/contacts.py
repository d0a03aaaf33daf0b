"""Users' contact addresses in PostgreSQL, per tenant (aios/notices.py, `Contact`): where an
approval's notice reaches the people it is routed to."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from aios.db import transient_on_connection_loss
from aios.notices import Contact, ContactIn

_COLUMNS = "user_id, email, slack_user_id, updated_by, updated_at"


class ContactStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def put(self, tenant: str, user_id: str, contact: ContactIn, by: str) -> Contact:
        row = await self._pool.fetchrow(
            "INSERT INTO user_contacts (tenant, user_id, email, slack_user_id, updated_by)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, user_id) DO UPDATE"
            " SET email = EXCLUDED.email, slack_user_id = EXCLUDED.slack_user_id,"
            " updated_by = EXCLUDED.updated_by, updated_at = now()"
            f" RETURNING {_COLUMNS}",
            tenant,
            user_id,
            str(contact.email),
            contact.slack_user_id,
            by,
        )
        return Contact.model_validate(dict(row))

    @transient_on_connection_loss
    async def get(self, tenant: str, user_id: str) -> Contact | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM user_contacts WHERE tenant = $1 AND user_id = $2",
            tenant,
            user_id,
        )
        return None if row is None else Contact.model_validate(dict(row))

    @transient_on_connection_loss
    async def delete(self, tenant: str, user_id: str) -> bool:
        done: str = await self._pool.execute(
            "DELETE FROM user_contacts WHERE tenant = $1 AND user_id = $2", tenant, user_id
        )
        return done.endswith(" 1")

    @transient_on_connection_loss
    async def of_users(self, tenant: str, users: Iterable[str]) -> dict[str, Contact]:
        """The contacts of those of `users` who have one."""
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM user_contacts WHERE tenant = $1 AND user_id = ANY($2::text[])",
            tenant,
            sorted(set(users)),
        )
        return {r["user_id"]: Contact.model_validate(dict(r)) for r in rows}
