"""Dependencies as `Annotated` aliases so route signatures read like prose."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from activities.knowledge import KnowledgeIndex
from activities.memory import MemoryService
from activities.tools import ToolRegistry
from activities.tools.mcp_tools import tenant_mcp_tools
from activities.tools.registry import use_tenant_tools
from aios.approval_policies import DEV_TENANT, DEV_USER
from aios.config import Settings
from aios.errors import ConfigurationError, Forbidden, RateLimited, Unauthorized
from aios.skills import SkillCatalog
from aios.stores.deltas import DeltaHub
from aios.stores.keys import ApiKeyStore
from aios.stores.vectors import VectorStore
from api.tokens import looks_like_jwt, verify_jwt

DEV_KEY_ID_DEFAULT = "dev"


@dataclass(frozen=True)
class Principal:
    """Who is calling: every query and every started workflow is scoped to the tenant."""

    tenant: str
    user_id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    key_id: str = DEV_KEY_ID_DEFAULT
    max_concurrent_runs: int | None = None


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def _deltas(request: Request) -> DeltaHub:
    hub: DeltaHub = request.app.state.deltas
    return hub


def _skills(request: Request) -> SkillCatalog:
    skills: SkillCatalog = request.app.state.skills
    return skills


def _registry(request: Request) -> ToolRegistry:
    registry: ToolRegistry = request.app.state.registry
    return registry


def _vectors(request: Request) -> VectorStore | None:
    client: VectorStore | None = request.app.state.vectors
    return client


def _no_index(what: str) -> ConfigurationError:
    """Why this API process has no vector index (embedded Qdrant is held by the worker process)
    and what to do about it."""
    return ConfigurationError(
        f"{what} need the knowledge index, which this API process cannot open: embedded Qdrant "
        "(Edge) is held by the worker process. Run `aios dev` (one process), or point the API and "
        "the workers at a Qdrant server with AIOS_QDRANT_URL"
    )


def _knowledge(request: Request) -> KnowledgeIndex:
    index: KnowledgeIndex | None = request.app.state.knowledge
    if index is None:
        raise _no_index("documents and search")
    return index


def _memory(request: Request) -> MemoryService:
    memory: MemoryService | None = request.app.state.memory
    if memory is None:
        raise _no_index("memory and chat")
    return memory


_bearer = HTTPBearer(auto_error=False)


DEV_KEY_ID = DEV_KEY_ID_DEFAULT


async def authenticate(app_state: Any, token: str | None) -> Principal:
    """The principal a bearer token stands for: the development key (tenant `default`, admin,
    not rate-limited: it is the operator's own), a key from `aios keys create`, or a JWT from
    the configured identity provider. Keys and JWT subjects have their request rate counted
    (429 when over)."""
    if not token:
        raise Unauthorized("send `Authorization: Bearer <api key>`; `aios dev` prints a key")
    settings: Settings = app_state.settings
    dev = settings.dev_api_key
    if dev is not None and hmac.compare_digest(token.encode(), dev.get_secret_value().encode()):
        return Principal(
            tenant=DEV_TENANT, user_id=DEV_USER, roles=frozenset({"admin"}), key_id=DEV_KEY_ID
        )
    keys = ApiKeyStore(app_state.pool)
    if looks_like_jwt(token):
        tenant, user_id, roles, caller_id = verify_jwt(token, settings)
        limit, max_runs = settings.rate_limit_per_minute, settings.max_concurrent_runs
    else:
        record = await keys.verify(token)
        if record is None:
            raise Unauthorized("the API key is not valid (unknown or revoked)")
        tenant, user_id, roles, caller_id = (
            record.tenant,
            record.user_id,
            frozenset(record.roles),
            record.id,
        )
        limit = record.rate_per_minute or settings.rate_limit_per_minute
        max_runs = record.max_concurrent_runs or settings.max_concurrent_runs
    now = datetime.now(UTC)
    if await keys.count_request(caller_id, now.replace(second=0, microsecond=0)) > limit:
        wait = 60 - now.second
        raise RateLimited(
            f"this key may make {limit} requests a minute; try again in {wait}s",
            retry_after=wait,
            details={"limit": "requests_per_minute"},
        )
    return Principal(
        tenant=tenant,
        user_id=user_id,
        roles=roles,
        key_id=caller_id,
        max_concurrent_runs=max_runs,
    )


async def _principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    principal = await authenticate(
        request.app.state, credentials.credentials if credentials else None
    )
    # For the request log: who asked, never with what key.
    request.state.principal = f"{principal.tenant}/{principal.user_id}/{principal.key_id}"
    # The tenant's own MCP servers' tools join the registry for the rest of this request: the
    # routes that list, check or invoke tools see them (aios/sources.py).
    use_tenant_tools(await tenant_mcp_tools(request.app.state.pool, principal.tenant))
    return principal


def require_admin(principal: Principal) -> None:
    if "admin" not in principal.roles:
        raise Forbidden("this needs the admin role")


async def _admin_only(principal: Annotated[Principal, Depends(_principal)]) -> None:
    require_admin(principal)


# A route only a tenant's admins may call: `@router.post(..., dependencies=[ADMIN_ONLY])`. As a
# dependency it is checked before the request's body is read (a 403, never a 422 that tells a
# non-admin what the body lacks), and the API reference and the route x role test read it there.
ADMIN_ONLY = Depends(_admin_only)
# The OpenAPI extension naming the roles a route needs (read by the API reference's generator).
ROLES_EXTENSION = "x-aios-roles"


def declare_roles(app: FastAPI) -> None:
    """Name in each admin-only route's OpenAPI operation the role it needs, so the reference
    (docs/reference/api.md) shows the route x role table from what the routes declare."""
    for route in api_routes(app):
        if any(d is ADMIN_ONLY for d in route.dependencies):
            route.openapi_extra = {**(route.openapi_extra or {}), ROLES_EXTENSION: ["admin"]}


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every API route of the app, including those of the routers it includes."""
    return [route for _, route in api_route_paths(app)]


def api_route_paths(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """Every API route of the app with the path it answers at. FastAPI keeps an included router
    as one entry of `app.routes` that holds the router's own routes; a router included in
    another (api/routes/slack/) adds its includer's prefix, which its routes' paths lack."""
    found: list[tuple[str, APIRoute]] = []
    pending: list[tuple[str, Any]] = [("", route) for route in app.routes]
    while pending:
        prefix, route = pending.pop(0)
        if isinstance(route, APIRoute):
            found.append((prefix + route.path, route))
        elif (router := getattr(route, "original_router", None)) is not None:
            context = getattr(route, "include_context", None)
            inner = prefix + (getattr(context, "prefix", "") or "")
            pending.extend((inner, r) for r in router.routes)
    return found


SettingsDep = Annotated[Settings, Depends(_settings)]
TemporalDep = Annotated[Client, Depends(_temporal)]
DbDep = Annotated[asyncpg.Pool, Depends(_pool)]
VectorsDep = Annotated[VectorStore | None, Depends(_vectors)]
KnowledgeDep = Annotated[KnowledgeIndex, Depends(_knowledge)]
MemoryDep = Annotated[MemoryService, Depends(_memory)]
PrincipalDep = Annotated[Principal, Depends(_principal)]
RegistryDep = Annotated[ToolRegistry, Depends(_registry)]
SkillsDep = Annotated[SkillCatalog, Depends(_skills)]
DeltasDep = Annotated[DeltaHub, Depends(_deltas)]


async def _maybe_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller when it sent a valid key; None for anonymous callers (health checks)."""
    try:
        return await _principal(request, credentials)
    except (Unauthorized, RateLimited):
        return None


MaybePrincipalDep = Annotated[Principal | None, Depends(_maybe_principal)]
