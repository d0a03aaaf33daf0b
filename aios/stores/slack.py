"""The Slack app's rows (migration 0013): events already taken, and who each Slack user is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from aios.db import transient_on_connection_loss

# Slack retries an event for about an hour; a week is plenty to recognise a resend.
EVENT_RETENTION = timedelta(days=7)


@dataclass(frozen=True)
class SlackUser:
    """A Slack user of a workspace, as an AIOS user of a tenant with these roles."""

    team_id: str
    slack_user_id: str
    tenant: str
    user_id: str
    roles: list[str] = field(default_factory=list)
    created_at: datetime | None = None


class SlackStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @transient_on_connection_loss
    async def first_delivery(self, team_id: str, event_id: str, tenant: str) -> bool:
        """True the first time this event arrives, False for a resend (Slack retries events it
        got no quick answer to). Old rows are dropped on the way."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM slack_events WHERE received_at < now() - $1::interval",
                EVENT_RETENTION,
            )
            status = await conn.execute(
                "INSERT INTO slack_events (team_id, event_id, tenant) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING",
                team_id,
                event_id,
                tenant,
            )
        return bool(status == "INSERT 0 1")

    @transient_on_connection_loss
    async def map_user(self, user: SlackUser) -> SlackUser:
        row = await self._pool.fetchrow(
            "INSERT INTO slack_users (team_id, slack_user_id, tenant, user_id, roles)"
            " VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (team_id, slack_user_id) DO UPDATE SET tenant = $3, user_id = $4,"
            " roles = $5, created_at = now()"
            " RETURNING *",
            user.team_id,
            user.slack_user_id,
            user.tenant,
            user.user_id,
            sorted(set(user.roles)),
        )
        return SlackUser(**dict(row))

    @transient_on_connection_loss
    async def user(self, team_id: str, slack_user_id: str) -> SlackUser | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM slack_users WHERE team_id = $1 AND slack_user_id = $2",
            team_id,
            slack_user_id,
        )
        return SlackUser(**dict(row)) if row else None

    @transient_on_connection_loss
    async def users(self, tenant: str | None = None) -> list[SlackUser]:
        rows = await self._pool.fetch(
            "SELECT * FROM slack_users WHERE $1::text IS NULL OR tenant = $1"
            " ORDER BY tenant, team_id, slack_user_id",
            tenant,
        )
        return [SlackUser(**dict(r)) for r in rows]

    @transient_on_connection_loss
    async def unmap_user(self, team_id: str, slack_user_id: str) -> bool:
        status = await self._pool.execute(
            "DELETE FROM slack_users WHERE team_id = $1 AND slack_user_id = $2",
            team_id,
            slack_user_id,
        )
        return bool(status != "DELETE 0")

    @transient_on_connection_loss
    async def forget(self, team_id: str, event_id: str) -> None:
        """An event that was not taken after all (its workflow did not start): a resend is new."""
        await self._pool.execute(
            "DELETE FROM slack_events WHERE team_id = $1 AND event_id = $2", team_id, event_id
        )
