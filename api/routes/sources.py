"""A tenant's data sources and tools, with owners (aios/sources.py): SQL sources
(`/v1/sources`), MCP servers (`/v1/mcp-servers`) and the domains its runs and chats may reach once
untrusted content is in their context (`/v1/egress`).

Admins of the tenant register, replace and delete them (403 to any other role); every caller of
the tenant lists and reads those its roles may use. Secrets go in and never come out: a DSN and
header values are stored, and reads show names only. Another tenant's anything is 404. An MCP
server must be reachable when registered (its tools are listed then and recorded), over HTTP(S) on
a public address or one the operator allowed (`AIOS_FETCH_ALLOW`): a tenant never makes the
workers reach inside the network, nor start processes on them.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from activities.net import FetchPolicy, FetchRefused
from activities.sql import env_sql_sources
from activities.tools.mcp_tools import McpServerConfig, forget_tenant_tools, list_remote_tools
from aios.errors import NotFound, TransientError, ValidationFailed
from aios.sources import (
    NAME_PATTERN,
    Egress,
    EgressIn,
    McpServer,
    McpServerIn,
    SqlSource,
    SqlSourceIn,
    dsn_host,
    may_use,
)
from aios.stores.sources import SourceStore, public
from aios.vocabulary import BUILTIN_ROLES
from api.deps import ADMIN_ONLY, DbDep, PrincipalDep, RegistryDep, SettingsDep
from api.examples import example

router = APIRouter(prefix="/v1/sources", tags=["sources"])
mcp_router = APIRouter(prefix="/v1/mcp-servers", tags=["sources"])
egress_router = APIRouter(prefix="/v1/egress", tags=["sources"])

Name = Path(pattern=NAME_PATTERN, description="lower-case letters, digits, _ and -")


class SqlSourceList(BaseModel):
    sources: list[SqlSource]


class McpServerList(BaseModel):
    mcp_servers: list[McpServer]


SOURCE_EXAMPLE: dict[str, Any] = {
    "name": "sales",
    "roles": ["analyst"],
    "description": "the sales warehouse (read-only)",
    "origin": "tenant",
    "created_by": "adam",
    "created_at": "2026-12-06T08:00:00Z",
    "updated_at": "2026-12-06T08:00:00Z",
}
SERVER_EXAMPLE: dict[str, Any] = {
    "name": "tickets",
    "url": "https://mcp.acme.example/mcp",
    "header_names": ["Authorization"],
    "roles": ["operator"],
    "side_effects": "writes",
    "requires_approval": True,
    "timeout_s": 60.0,
    "tools": [{"name": "open_ticket", "description": "Open a ticket.", "input_schema": {}}],
    "origin": "tenant",
    "created_by": "adam",
    "created_at": "2026-12-06T08:00:00Z",
    "updated_at": "2026-12-06T08:00:00Z",
}


# --- SQL sources ---------------------------------------------------------------------------------


@router.get("", response_model=SqlSourceList, responses=example({"sources": [SOURCE_EXAMPLE]}))
async def list_sources(
    principal: PrincipalDep, pool: DbDep, settings: SettingsDep
) -> SqlSourceList:
    """The tenant's SQL sources the caller's roles may query (an admin sees all), with the
    environment's (`AIOS_SQL_SOURCES`) for the tenant that owns those. No DSN is ever shown."""
    own = await SourceStore(pool).list_sql(principal.tenant)
    env = [
        SqlSource(name=name, origin="environment")
        for name in sorted(env_sql_sources(settings, principal.tenant))
        if name not in {s.name for s in own}
    ]
    return SqlSourceList(sources=[s for s in [*own, *env] if may_use(s.roles, principal.roles)])


@router.get("/{name}", response_model=SqlSource, responses=example(SOURCE_EXAMPLE))
async def get_source(
    principal: PrincipalDep, pool: DbDep, settings: SettingsDep, name: str = Name
) -> SqlSource:
    """One source (no DSN); 404 when the tenant has none of that name or the caller's roles
    may not query it."""
    found = await SourceStore(pool).sql_source(principal.tenant, name)
    if found is not None and may_use(found[0].roles, principal.roles):
        return found[0]
    if found is None and name in env_sql_sources(settings, principal.tenant):
        return SqlSource(name=name, origin="environment")
    raise NotFound(f"no SQL source {name!r}")


@router.put(
    "/{name}",
    response_model=SqlSource,
    responses=example(SOURCE_EXAMPLE),
    dependencies=[ADMIN_ONLY],
)
async def put_source(
    body: SqlSourceIn,
    principal: PrincipalDep,
    pool: DbDep,
    registry: RegistryDep,
    settings: SettingsDep,
    name: str = Name,
) -> SqlSource:
    """Register (or replace) a SQL source of the caller's tenant: `sql_query` and SQL
    ingestion of this tenant may use it, restricted to `roles` when given. Needs the admin role.
    Queries run read-only; give it a database user that can read only what it should. An
    unknown role, a DSN with several hosts, a local socket or parameters other than sslmode,
    connect_timeout and application_name, or a host on a private address (unless
    `AIOS_FETCH_ALLOW` allows it: the workers' own database is never a tenant's) is a 422."""
    _known_roles(body.roles, registry)
    # The database must be where the operator lets tenants reach (the workers' own database and
    # anything else inside the network are refused unless AIOS_FETCH_ALLOW names them).
    await _public_address(dsn_host(body.dsn.get_secret_value()), settings.fetch_allow, "dsn")
    return await SourceStore(pool).put_sql(principal.tenant, name, body, principal.user_id)


@router.delete("/{name}", status_code=204, response_class=Response, dependencies=[ADMIN_ONLY])
async def delete_source(principal: PrincipalDep, pool: DbDep, name: str = Name) -> Response:
    """Forget a source (its DSN with it). Needs the admin role; unknown is 404."""
    if not await SourceStore(pool).delete_sql(principal.tenant, name):
        raise NotFound(f"no SQL source {name!r}")
    return Response(status_code=204)


# --- MCP servers ---------------------------------------------------------------------------------


@mcp_router.get(
    "", response_model=McpServerList, responses=example({"mcp_servers": [SERVER_EXAMPLE]})
)
async def list_servers(principal: PrincipalDep, pool: DbDep) -> McpServerList:
    """The tenant's MCP servers the caller's roles may use (an admin sees all), with the tools
    each listed when registered. Header values are never shown."""
    servers = await SourceStore(pool).list_mcp(principal.tenant)
    return McpServerList(
        mcp_servers=[public(s) for s in servers if may_use(s.roles, principal.roles)]
    )


@mcp_router.get("/{name}", response_model=McpServer, responses=example(SERVER_EXAMPLE))
async def get_server(principal: PrincipalDep, pool: DbDep, name: str = Name) -> McpServer:
    """One server; 404 when the tenant has none of that name or the caller may not use it."""
    found = await SourceStore(pool).mcp_server(principal.tenant, name)
    if found is None or not may_use(found.roles, principal.roles):
        raise NotFound(f"no MCP server {name!r}")
    return public(found)


@mcp_router.put(
    "/{name}",
    response_model=McpServer,
    responses=example(SERVER_EXAMPLE),
    dependencies=[ADMIN_ONLY],
)
async def put_server(
    body: McpServerIn,
    principal: PrincipalDep,
    pool: DbDep,
    settings: SettingsDep,
    registry: RegistryDep,
    name: str = Name,
) -> McpServer:
    """Register (or replace) an MCP server of the caller's tenant: its tools are listed now
    (the server must answer) and callable as `<name>.<tool>` by this tenant's runs, restricted to
    `roles` when given. Needs the admin role. A name the operator's `AIOS_MCP_SERVERS` uses, a
    URL on a private address (unless `AIOS_FETCH_ALLOW` allows it) or a server that does not
    answer is a 422."""
    _known_roles(body.roles, registry)
    if name in settings.tools.mcp_servers:
        raise ValidationFailed(f"name: {name!r} is the name of a server the operator configured")
    await _public_address(urlsplit(body.url).hostname or "", settings.fetch_allow, "url")
    config = McpServerConfig(
        url=body.url,
        headers=body.headers,
        side_effects=body.side_effects,
        requires_approval=body.requires_approval,
        timeout_s=body.timeout_s,
    )
    try:
        tools = await list_remote_tools(config)
    except TransientError as e:
        raise ValidationFailed(f"url: {e.message}") from None
    stored = await SourceStore(pool).put_mcp(principal.tenant, name, body, tools, principal.user_id)
    forget_tenant_tools(principal.tenant)
    return stored


@mcp_router.delete("/{name}", status_code=204, response_class=Response, dependencies=[ADMIN_ONLY])
async def delete_server(principal: PrincipalDep, pool: DbDep, name: str = Name) -> Response:
    """Forget a server (its headers with it): its tools are unknown from now on. Needs the
    admin role; unknown is 404."""
    if not await SourceStore(pool).delete_mcp(principal.tenant, name):
        raise NotFound(f"no MCP server {name!r}")
    forget_tenant_tools(principal.tenant)
    return Response(status_code=204)


def _known_roles(roles: list[str], registry: Any) -> None:
    """422 for a role no key can hold (the roles `POST /v1/keys` knows)."""
    known = BUILTIN_ROLES | {role for spec in registry.specs(None) for role in spec.roles}
    unknown = sorted(set(roles) - known)
    if unknown:
        raise ValidationFailed(
            f"roles: unknown {', '.join(map(repr, unknown))}; the known roles are "
            f"{', '.join(sorted(known))}"
        )


async def _public_address(host: str, allow: list[str], field: str) -> None:
    """422 unless every address `host` resolves to is public or allow-listed (the check
    `http_fetch` makes), so a tenant cannot point the workers inside the network."""
    policy = FetchPolicy.from_allow_list(allow)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except OSError as e:
        raise ValidationFailed(f"{field}: the host {host!r} cannot be resolved: {e}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        try:
            policy.check(host, address)
        except FetchRefused as e:
            raise ValidationFailed(f"{field}: {e.message}") from None


# --- egress --------------------------------------------------------------------------------------

EGRESS_EXAMPLE = {
    "domains": ["acme.example", "api.github.com"],
    "updated_by": "adam",
    "updated_at": "2026-12-06T08:00:00Z",
}


@egress_router.get("", response_model=Egress, responses=example(EGRESS_EXAMPLE))
async def get_egress(principal: PrincipalDep, pool: DbDep) -> Egress:
    """The domains the tenant's runs and chats may reach with `http_fetch`, `web_search` and
    MCP tools once untrusted content is in their context; any other destination then waits for
    a person (a chat's call is refused). Every role of the tenant may read it."""
    return await SourceStore(pool).egress(principal.tenant)


@egress_router.put(
    "", response_model=Egress, responses=example(EGRESS_EXAMPLE), dependencies=[ADMIN_ONLY]
)
async def put_egress(body: EgressIn, principal: PrincipalDep, pool: DbDep) -> Egress:
    """Replace the tenant's allowed domains (a domain allows its subdomains). Needs the admin
    role; a malformed entry is a 422 naming it."""
    return await SourceStore(pool).put_egress(principal.tenant, body.domains, principal.user_id)
