"""A tenant's SQL sources, MCP servers and egress allow-list in PostgreSQL (aios/sources.py says
what they are). Reads for the API leave the secrets out; the worker's reads (`dsn`,
`mcp_server`) return them."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from aios.db import transient_on_connection_loss
from aios.sources import (
    Egress,
    McpServer,
    McpServerIn,
    McpServerSecret,
    McpToolInfo,
    SqlSource,
    SqlSourceIn,
)

_SQL_COLUMNS = "name, roles, description, created_by, created_at, updated_at"
_MCP_COLUMNS = (
    "name, url, headers, roles, side_effects, requires_approval, timeout_s, price_usd, tools,"
    " created_by, created_at, updated_at"
)


def _server(row: asyncpg.Record) -> McpServerSecret:
    data: dict[str, Any] = dict(row)
    headers = json.loads(data.pop("headers"))
    data["tools"] = json.loads(data["tools"])
    return McpServerSecret(**data, header_names=sorted(headers), headers=headers)


def public(server: McpServerSecret) -> McpServer:
    return McpServer.model_validate(server.model_dump(exclude={"headers"}))


class SourceStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # --- SQL sources -----------------------------------------------------------------------

    @transient_on_connection_loss
    async def put_sql(self, tenant: str, name: str, source: SqlSourceIn, by: str) -> SqlSource:
        row = await self._pool.fetchrow(
            "INSERT INTO tenant_sql_sources (tenant, name, dsn, roles, description, created_by)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, name) DO UPDATE SET"
            " dsn = EXCLUDED.dsn, roles = EXCLUDED.roles, description = EXCLUDED.description,"
            f" updated_at = now() RETURNING {_SQL_COLUMNS}",
            tenant,
            name,
            source.dsn.get_secret_value(),
            source.roles,
            source.description,
            by,
        )
        return SqlSource(**dict(row))

    @transient_on_connection_loss
    async def list_sql(self, tenant: str) -> list[SqlSource]:
        rows = await self._pool.fetch(
            f"SELECT {_SQL_COLUMNS} FROM tenant_sql_sources WHERE tenant = $1 ORDER BY name",
            tenant,
        )
        return [SqlSource(**dict(r)) for r in rows]

    @transient_on_connection_loss
    async def sql_source(self, tenant: str, name: str) -> tuple[SqlSource, str] | None:
        """The source and its DSN (for the worker), or None."""
        row = await self._pool.fetchrow(
            f"SELECT {_SQL_COLUMNS}, dsn FROM tenant_sql_sources WHERE tenant = $1 AND name = $2",
            tenant,
            name,
        )
        if row is None:
            return None
        data = dict(row)
        dsn: str = data.pop("dsn")
        return SqlSource(**data), dsn

    @transient_on_connection_loss
    async def delete_sql(self, tenant: str, name: str) -> bool:
        done: str = await self._pool.execute(
            "DELETE FROM tenant_sql_sources WHERE tenant = $1 AND name = $2", tenant, name
        )
        return done.endswith(" 1")

    # --- MCP servers -----------------------------------------------------------------------

    @transient_on_connection_loss
    async def put_mcp(
        self, tenant: str, name: str, server: McpServerIn, tools: list[McpToolInfo], by: str
    ) -> McpServer:
        row = await self._pool.fetchrow(
            "INSERT INTO tenant_mcp_servers (tenant, name, url, headers, roles, side_effects,"
            " requires_approval, timeout_s, tools, created_by, price_usd) VALUES ($1, $2, $3,"
            " $4::jsonb, $5, $6, $7, $8, $9::jsonb, $10, $11) ON CONFLICT (tenant, name) DO"
            " UPDATE SET url = EXCLUDED.url, headers = EXCLUDED.headers, roles = EXCLUDED.roles,"
            " side_effects = EXCLUDED.side_effects,"
            " requires_approval = EXCLUDED.requires_approval, timeout_s = EXCLUDED.timeout_s,"
            " price_usd = EXCLUDED.price_usd,"
            f" tools = EXCLUDED.tools, updated_at = now() RETURNING {_MCP_COLUMNS}",
            tenant,
            name,
            server.url,
            json.dumps({k: v.get_secret_value() for k, v in server.headers.items()}),
            server.roles,
            server.side_effects,
            server.requires_approval,
            server.timeout_s,
            json.dumps([t.model_dump() for t in tools]),
            by,
            server.price_usd,
        )
        return public(_server(row))

    @transient_on_connection_loss
    async def list_mcp(self, tenant: str) -> list[McpServerSecret]:
        rows = await self._pool.fetch(
            f"SELECT {_MCP_COLUMNS} FROM tenant_mcp_servers WHERE tenant = $1 ORDER BY name",
            tenant,
        )
        return [_server(r) for r in rows]

    @transient_on_connection_loss
    async def mcp_server(self, tenant: str, name: str) -> McpServerSecret | None:
        row = await self._pool.fetchrow(
            f"SELECT {_MCP_COLUMNS} FROM tenant_mcp_servers WHERE tenant = $1 AND name = $2",
            tenant,
            name,
        )
        return _server(row) if row is not None else None

    @transient_on_connection_loss
    async def delete_mcp(self, tenant: str, name: str) -> bool:
        done: str = await self._pool.execute(
            "DELETE FROM tenant_mcp_servers WHERE tenant = $1 AND name = $2", tenant, name
        )
        return done.endswith(" 1")

    # --- egress ----------------------------------------------------------------------------

    @transient_on_connection_loss
    async def egress(self, tenant: str) -> Egress:
        row = await self._pool.fetchrow(
            "SELECT domains, updated_by, updated_at FROM tenant_egress WHERE tenant = $1", tenant
        )
        return Egress(**dict(row)) if row is not None else Egress()

    @transient_on_connection_loss
    async def put_egress(self, tenant: str, domains: list[str], by: str) -> Egress:
        row = await self._pool.fetchrow(
            "INSERT INTO tenant_egress (tenant, domains, updated_by) VALUES ($1, $2, $3)"
            " ON CONFLICT (tenant) DO UPDATE SET domains = EXCLUDED.domains,"
            " updated_by = EXCLUDED.updated_by, updated_at = now()"
            " RETURNING domains, updated_by, updated_at",
            tenant,
            domains,
            by,
        )
        return Egress(**dict(row))
