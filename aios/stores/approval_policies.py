"""Approval policies and groups of approvers in PostgreSQL, per tenant
(aios/approval_policies.py says what they are)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import asyncpg

from aios.approval_policies import (
    GROUP_PREFIX,
    Group,
    PolicyIn,
    PolicyRule,
    StoredPolicy,
    plan_approvers,
    problems,
)
from aios.db import transient_on_connection_loss
from aios.errors import ValidationFailed
from aios.plan import Plan
from aios.vocabulary import BUILTIN_ROLES

_POLICY_COLUMNS = "id, tenant, subject, name, rule, note, created_by, created_at"


def _policy(row: asyncpg.Record) -> StoredPolicy:
    data: dict[str, Any] = dict(row)
    rule = json.loads(data.pop("rule"))
    return StoredPolicy.model_validate({**data, **rule, "source": "tenant"})


class PolicyStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # --- policies -------------------------------------------------------------------------

    @transient_on_connection_loss
    async def create(self, tenant: str, policy: PolicyIn, created_by: str) -> StoredPolicy | None:
        """The new policy, or None when the tenant has one for this subject already."""
        rule = policy.model_dump(mode="json", include=set(PolicyRule.model_fields))
        row = await self._pool.fetchrow(
            "INSERT INTO approval_policies (id, tenant, subject, name, rule, note, created_by)"
            " VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)"
            " ON CONFLICT (tenant, subject, name) DO NOTHING"
            f" RETURNING {_POLICY_COLUMNS}",
            f"pol_{secrets.token_hex(8)}",
            tenant,
            policy.subject.value,
            policy.name,
            json.dumps(rule),
            policy.note,
            created_by,
        )
        return None if row is None else _policy(row)

    @transient_on_connection_loss
    async def all(self, tenant: str) -> list[StoredPolicy]:
        rows = await self._pool.fetch(
            f"SELECT {_POLICY_COLUMNS} FROM approval_policies WHERE tenant = $1"
            " ORDER BY subject, name",
            tenant,
        )
        return [_policy(r) for r in rows]

    @transient_on_connection_loss
    async def count(self, tenant: str) -> int:
        found: int = await self._pool.fetchval(
            "SELECT count(*) FROM approval_policies WHERE tenant = $1", tenant
        )
        return found

    @transient_on_connection_loss
    async def get(self, tenant: str, policy_id: str) -> StoredPolicy | None:
        row = await self._pool.fetchrow(
            f"SELECT {_POLICY_COLUMNS} FROM approval_policies WHERE tenant = $1 AND id = $2",
            tenant,
            policy_id,
        )
        return None if row is None else _policy(row)

    @transient_on_connection_loss
    async def delete(self, tenant: str, policy_id: str) -> bool:
        done: str = await self._pool.execute(
            "DELETE FROM approval_policies WHERE tenant = $1 AND id = $2", tenant, policy_id
        )
        return done.endswith(" 1")

    @transient_on_connection_loss
    async def any_self_approval(self, tenant: str) -> bool:
        """Whether one of the tenant's policies lets requesters answer their own runs."""
        found: bool = await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM approval_policies WHERE tenant = $1"
            " AND (rule->>'allow_self_approval')::boolean)",
            tenant,
        )
        return found

    @transient_on_connection_loss
    async def naming_group(self, tenant: str, group: str) -> list[str]:
        """The ids of the tenant's policies that name `group:<group>` (approvers or escalation)."""
        rows = await self._pool.fetch(
            "SELECT id FROM approval_policies WHERE tenant = $1 AND rule::text LIKE $2 ORDER BY id",
            tenant,
            f'%"group:{group}"%',
        )
        return [r["id"] for r in rows]

    # --- groups ---------------------------------------------------------------------------

    @transient_on_connection_loss
    async def put_group(
        self, tenant: str, name: str, members: list[str], description: str, by: str
    ) -> tuple[Group, bool]:
        """Create the group or replace its members and description; True when it is new."""
        async with self._pool.acquire() as conn, conn.transaction():
            created = await conn.fetchval(
                "INSERT INTO approval_groups (tenant, name, description, created_by)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, name) DO UPDATE"
                " SET description = EXCLUDED.description, updated_at = now()"
                " RETURNING (xmax = 0)",
                tenant,
                name,
                description,
                by,
            )
            await conn.execute(
                "DELETE FROM approval_group_members WHERE tenant = $1 AND name = $2", tenant, name
            )
            await conn.executemany(
                "INSERT INTO approval_group_members (tenant, name, user_id) VALUES ($1, $2, $3)",
                [(tenant, name, m) for m in dict.fromkeys(members)],
            )
        group = await self.group(tenant, name)
        assert group is not None
        return group, bool(created)

    @transient_on_connection_loss
    async def groups(self, tenant: str) -> list[Group]:
        rows = await self._pool.fetch(
            "SELECT g.name, g.description, g.created_by, g.created_at, g.updated_at,"
            " coalesce(array_agg(m.user_id ORDER BY m.user_id)"
            " FILTER (WHERE m.user_id IS NOT NULL), '{}') AS members"
            " FROM approval_groups g LEFT JOIN approval_group_members m"
            " ON m.tenant = g.tenant AND m.name = g.name"
            " WHERE g.tenant = $1 GROUP BY g.tenant, g.name ORDER BY g.name",
            tenant,
        )
        return [Group.model_validate(dict(r)) for r in rows]

    async def group(self, tenant: str, name: str) -> Group | None:
        return next((g for g in await self.groups(tenant) if g.name == name), None)

    @transient_on_connection_loss
    async def group_count(self, tenant: str) -> int:
        found: int = await self._pool.fetchval(
            "SELECT count(*) FROM approval_groups WHERE tenant = $1", tenant
        )
        return found

    @transient_on_connection_loss
    async def delete_group(self, tenant: str, name: str) -> bool:
        done: str = await self._pool.execute(
            "DELETE FROM approval_groups WHERE tenant = $1 AND name = $2", tenant, name
        )
        return done.endswith(" 1")

    @transient_on_connection_loss
    async def groups_of(self, tenant: str, user_id: str) -> list[str]:
        """The names of the tenant's groups `user_id` is in."""
        rows = await self._pool.fetch(
            "SELECT name FROM approval_group_members WHERE tenant = $1 AND user_id = $2"
            " ORDER BY name",
            tenant,
            user_id,
        )
        return [r["name"] for r in rows]

    @transient_on_connection_loss
    async def users(self, tenant: str) -> dict[str, set[str]]:
        """The tenant's users (those a live key names) and the roles their keys carry."""
        rows = await self._pool.fetch(
            "SELECT user_id, array_agg(DISTINCT r) AS roles FROM api_keys, unnest(roles) AS r"
            " WHERE tenant = $1 AND revoked_at IS NULL GROUP BY user_id",
            tenant,
        )
        return {r["user_id"]: set(r["roles"]) for r in rows}


async def check_plan_approvers(pool: asyncpg.Pool, registry: Any, tenant: str, plan: Plan) -> None:
    """422 when a plan's approvals name a role nobody can hold or a group the tenant does not
    have (such an approval could never be answered). The tenant's groups are read only when the
    plan names one."""
    names = plan_approvers(plan)
    if not names:
        return
    known_roles = BUILTIN_ROLES | {r for spec in registry.specs(None) for r in spec.roles}
    groups: list[str] = []
    if any(n.startswith(GROUP_PREFIX) for n in names):
        groups = [g.name for g in await PolicyStore(pool).groups(tenant)]
    found = problems(names, known_roles=known_roles, known_groups=groups)
    if found:
        raise ValidationFailed("plan: an approval names " + "; ".join(found))
