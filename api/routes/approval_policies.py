"""Approval policies as data (`/v1/policies`) and groups of approvers (`/v1/groups`),
per tenant, managed by its admins (aios/approval_policies.py says how a run picks its policy).

Everything here needs the admin role and acts on the caller's tenant only: another tenant's
policy or group is 404. Bad input is a 422 naming the field: an unknown tool, skill, schedule,
role or group; a user who is no user of the tenant; a tool that never asks for approval; a k
larger than the users who could approve.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client

from activities.tools import ToolRegistry
from aios.approval_policies import (
    BUDGET_SCOPES,
    GROUP_PATTERN,
    MAX_GROUPS,
    MAX_MEMBERS,
    MAX_POLICIES,
    Group,
    PolicyFileError,
    PolicyIn,
    PolicyRule,
    PolicySubject,
    StoredPolicy,
    eligible,
    load_repo_policies,
    problems,
)
from aios.config import Settings
from aios.errors import ConfigurationError, Conflict, NotFound, ValidationFailed
from aios.skills import SkillCatalog
from aios.stores.approval_policies import PolicyStore
from aios.vocabulary import BUILTIN_ROLES, Role
from api.deps import (
    ADMIN_ONLY,
    DbDep,
    Principal,
    PrincipalDep,
    RegistryDep,
    SettingsDep,
    SkillsDep,
    TemporalDep,
)
from api.examples import example
from api.routes.schedules import _owned as owned_schedule

router = APIRouter(prefix="/v1/policies", tags=["approvals"])
groups_router = APIRouter(prefix="/v1/groups", tags=["approvals"])

# The roles that answer approvals (admin implies approver).
ANSWERING_ROLES = frozenset({Role.APPROVER.value, Role.ADMIN.value})

POLICY_EXAMPLE: dict[str, Any] = {
    "id": "pol_5f2c9a1e0b7d3c4a",
    "source": "tenant",
    "tenant": "acme",
    "subject": "tool",
    "name": "publish_report",
    "approvers": ["group:finance"],
    "approvals_required": 1,
    "timeout_s": 3600,
    "on_timeout": "reject",
    "escalate": [{"approvers": ["role:operator"], "timeout_s": 7200}],
    "note": "finance signs off what is published",
    "created_by": "adam",
    "created_at": "2026-12-06T08:00:00Z",
}
GROUP_EXAMPLE: dict[str, Any] = {
    "name": "finance",
    "description": "signs off reports",
    "members": ["carol", "dave"],
    "created_by": "adam",
    "created_at": "2026-12-06T08:00:00Z",
    "updated_at": "2026-12-06T08:00:00Z",
}


class CreatePolicy(PolicyIn):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "subject": "tool",
                    "name": "publish_report",
                    "approvers": ["group:finance"],
                    "timeout_s": 3600,
                    "on_timeout": "reject",
                    "escalate": [{"approvers": ["role:operator"], "timeout_s": 7200}],
                    "note": "finance signs off what is published",
                }
            ]
        },
    )


class PolicyList(BaseModel):
    # The tenant's own first (they apply first), then the repository's defaults.
    policies: list[StoredPolicy]


class GroupBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"members": ["carol", "dave"], "description": "finance"}]},
    )

    members: list[str] = Field(
        max_length=MAX_MEMBERS, description="user ids of the tenant (a user a key names)"
    )
    description: str = Field(default="", max_length=500)


class CreateGroup(GroupBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "finance", "members": ["carol", "dave"], "description": ""}]
        },
    )

    name: str = Field(pattern=GROUP_PATTERN, description="named in policies as `group:<name>`")


class GroupList(BaseModel):
    groups: list[Group]


def _repo_policies(settings: Settings) -> list[StoredPolicy]:
    try:
        return load_repo_policies(settings.approval_policies_file)
    except PolicyFileError as e:
        raise ConfigurationError(f"the approval policy file is unusable: {e}") from None


async def _check_subject(
    body: PolicyIn,
    principal: Principal,
    registry: ToolRegistry,
    skills: SkillCatalog,
    temporal: Client,
    settings: Settings,
) -> None:
    if body.subject == PolicySubject.TOOL:
        specs = {s.name: s for s in registry.specs(None)}
        spec = specs.get(body.name)
        if spec is None:
            raise ValidationFailed(
                f"name: unknown tool {body.name!r}; known tools: {', '.join(sorted(specs))}"
            )
        if not spec.requires_approval and spec.side_effects == "none":
            raise ValidationFailed(
                f"name: tool {body.name!r} has no side effects and never asks for approval; a "
                "policy for it would never apply"
            )
    elif body.subject == PolicySubject.SKILL:
        known = sorted(s.name for s in skills.all())
        if body.name not in known:
            raise ValidationFailed(
                f"name: unknown skill {body.name!r}; known skills: {', '.join(known)}"
            )
    elif body.subject == PolicySubject.BUDGET:
        if body.name not in BUDGET_SCOPES:
            raise ValidationFailed(
                f"name: a budget policy names the scope of the caps it is about: "
                f"{', '.join(BUDGET_SCOPES[:-1])} or {BUDGET_SCOPES[-1]} (any), not {body.name!r}"
            )
    else:
        try:
            await owned_schedule(temporal, settings, body.name, principal)
        except NotFound:
            raise ValidationFailed(
                f"name: no schedule {body.name!r} in this tenant (GET /v1/schedules lists them)"
            ) from None


async def check_rule(
    rule: PolicyRule,
    store: PolicyStore,
    tenant: str,
    registry: ToolRegistry,
    field: str = "approvers",
) -> None:
    """422 for unknown roles, groups or users, and for a k larger than the tenant's users who
    could approve at any step of the chain."""
    known_roles = BUILTIN_ROLES | {r for spec in registry.specs(None) for r in spec.roles}
    groups = {g.name: set(g.members) for g in await store.groups(tenant)}
    users = await store.users(tenant)
    found = problems(rule, known_roles=known_roles, known_groups=groups, known_users=users)
    if found:
        raise ValidationFailed(f"{field}: " + "; ".join(found))
    levels = [("approvers", rule.approvers)] + [
        (f"escalate.{i}.approvers", e.approvers) for i, e in enumerate(rule.escalate)
    ]
    for where, names in levels:
        able = eligible(names, users, groups, ANSWERING_ROLES)
        if rule.approvals_required > len(able):
            who = ", ".join(sorted(able)) or "nobody"
            raise ValidationFailed(
                f"approvals_required: {rule.approvals_required} distinct approvers are needed, "
                f"but only {len(able)} user(s) of the tenant may answer for {where} ({who})"
            )


@router.post(
    "",
    status_code=201,
    response_model=StoredPolicy,
    responses=example(POLICY_EXAMPLE, status=201),
    dependencies=[ADMIN_ONLY],
)
async def create_policy(
    body: CreatePolicy,
    principal: PrincipalDep,
    pool: DbDep,
    registry: RegistryDep,
    skills: SkillsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> StoredPolicy:
    """A policy for the approvals of one tool, skill or schedule of the caller's tenant: who may
    approve (user ids, `role:<name>`, `group:<name>`), how many distinct approvers (k of n), the
    timeout and what it does (escalate, then reject or fail). It applies to approvals that open
    from now on, before the repository's defaults and the plan's own terms. Needs the admin
    role; one policy per subject (409: delete the old one first)."""
    await _check_subject(body, principal, registry, skills, temporal, settings)
    store = PolicyStore(pool)
    await check_rule(body, store, principal.tenant, registry)
    if await store.count(principal.tenant) >= MAX_POLICIES:
        raise ValidationFailed(f"the tenant holds {MAX_POLICIES} policies; delete some first")
    created = await store.create(principal.tenant, body, principal.user_id)
    if created is None:
        raise Conflict(
            f"the tenant has a policy for {body.subject.value} {body.name!r} already; "
            "delete it first"
        )
    return created


@router.get(
    "",
    response_model=PolicyList,
    responses=example({"policies": [POLICY_EXAMPLE]}),
    dependencies=[ADMIN_ONLY],
)
async def list_policies(principal: PrincipalDep, pool: DbDep, settings: SettingsDep) -> PolicyList:
    """The tenant's policies, then the repository's defaults (`source: repo`), in the order they
    apply. Needs the admin role."""
    own = await PolicyStore(pool).all(principal.tenant)
    return PolicyList(policies=[*own, *_repo_policies(settings)])


@router.get(
    "/{policy_id}",
    response_model=StoredPolicy,
    responses=example(POLICY_EXAMPLE),
    dependencies=[ADMIN_ONLY],
)
async def get_policy(
    policy_id: str, principal: PrincipalDep, pool: DbDep, settings: SettingsDep
) -> StoredPolicy:
    """One policy: the tenant's (`pol_…`) or a repository default (`repo:<subject>:<name>`).
    Needs the admin role; another tenant's is 404."""
    found = await PolicyStore(pool).get(principal.tenant, policy_id)
    if found is None:
        found = next((p for p in _repo_policies(settings) if p.id == policy_id), None)
    if found is None:
        raise NotFound(f"no approval policy {policy_id!r}")
    return found


@router.delete("/{policy_id}", status_code=204, response_class=Response, dependencies=[ADMIN_ONLY])
async def delete_policy(policy_id: str, principal: PrincipalDep, pool: DbDep) -> Response:
    """Delete one of the tenant's policies: approvals that open from now on fall back to the
    repository's default or the plan's terms (those already open keep theirs). Needs the admin
    role; another tenant's, or a repository default, is 404."""
    if not await PolicyStore(pool).delete(principal.tenant, policy_id):
        raise NotFound(f"no approval policy {policy_id!r} of this tenant")
    return Response(status_code=204)


# --- groups ---------------------------------------------------------------------------------


def _known_name(name: str) -> None:
    """404 for a path that cannot name a group (before it reaches a query)."""
    if not re.match(GROUP_PATTERN, name):
        raise NotFound(f"no group {name!r}")


async def _check_members(store: PolicyStore, tenant: str, members: list[str]) -> None:
    users = await store.users(tenant)
    unknown = [m for m in dict.fromkeys(members) if m not in users]
    if unknown:
        raise ValidationFailed(
            f"members: {', '.join(map(repr, unknown))} is not a user of the tenant "
            "(a user is whoever a live key of the tenant names)"
        )


@groups_router.post(
    "",
    status_code=201,
    response_model=Group,
    responses=example(GROUP_EXAMPLE, status=201),
    dependencies=[ADMIN_ONLY],
)
async def create_group(body: CreateGroup, principal: PrincipalDep, pool: DbDep) -> Group:
    """A named group of the tenant's users, for policies and plans to name as
    `group:<name>`. Needs the admin role; 409 when the name is taken (PUT replaces members)."""
    store = PolicyStore(pool)
    if await store.group(principal.tenant, body.name) is not None:
        raise Conflict(f"the group {body.name!r} exists; PUT /v1/groups/{body.name} replaces it")
    if await store.group_count(principal.tenant) >= MAX_GROUPS:
        raise ValidationFailed(f"the tenant holds {MAX_GROUPS} groups; delete some first")
    await _check_members(store, principal.tenant, body.members)
    group, _ = await store.put_group(
        principal.tenant, body.name, body.members, body.description, principal.user_id
    )
    return group


@groups_router.get(
    "",
    response_model=GroupList,
    responses=example({"groups": [GROUP_EXAMPLE]}),
    dependencies=[ADMIN_ONLY],
)
async def list_groups(principal: PrincipalDep, pool: DbDep) -> GroupList:
    """The tenant's groups with their members. Needs the admin role."""
    return GroupList(groups=await PolicyStore(pool).groups(principal.tenant))


@groups_router.get(
    "/{name}", response_model=Group, responses=example(GROUP_EXAMPLE), dependencies=[ADMIN_ONLY]
)
async def get_group(name: str, principal: PrincipalDep, pool: DbDep) -> Group:
    """One group. Needs the admin role; another tenant's is 404."""
    _known_name(name)
    found = await PolicyStore(pool).group(principal.tenant, name)
    if found is None:
        raise NotFound(f"no group {name!r}")
    return found


@groups_router.put(
    "/{name}", response_model=Group, responses=example(GROUP_EXAMPLE), dependencies=[ADMIN_ONLY]
)
async def replace_group(name: str, body: GroupBody, principal: PrincipalDep, pool: DbDep) -> Group:
    """Replace an existing group's members and description: approvals check membership when an
    answer comes, so it applies to approvals already open. Needs the admin role; 404 for a
    group the tenant does not have."""
    _known_name(name)
    store = PolicyStore(pool)
    if await store.group(principal.tenant, name) is None:
        raise NotFound(f"no group {name!r}")
    await _check_members(store, principal.tenant, body.members)
    group, _ = await store.put_group(
        principal.tenant, name, body.members, body.description, principal.user_id
    )
    return group


@groups_router.delete(
    "/{name}", status_code=204, response_class=Response, dependencies=[ADMIN_ONLY]
)
async def delete_group(name: str, principal: PrincipalDep, pool: DbDep) -> Response:
    """Delete a group. Needs the admin role; 409 while a policy of the tenant names it (delete or
    change that first); 404 for one the tenant does not have."""
    _known_name(name)
    store = PolicyStore(pool)
    naming = await store.naming_group(principal.tenant, name)
    if naming:
        raise Conflict(f"the group {name!r} is named by policies {', '.join(naming)}")
    if not await store.delete_group(principal.tenant, name):
        raise NotFound(f"no group {name!r}")
    return Response(status_code=204)
