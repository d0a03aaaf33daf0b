"""The client's calls on a tenant's connections (aios/sources.py): its SQL sources, its MCP
servers and the egress allow-list of its runs."""

from __future__ import annotations

from urllib.parse import quote

from aios.client.base import ApiBase
from aios.sources import Egress, McpServer, McpServerIn, SqlSource, SqlSourceIn


class SourcesApi(ApiBase):
    """SQL sources, MCP servers and egress: `/v1/sources`, `/v1/mcp-servers`, `/v1/egress`."""

    async def sources(self) -> list[SqlSource]:
        """The tenant's SQL sources the caller may query (no DSNs)."""
        found = await self.request("GET", "/v1/sources")
        return [SqlSource.model_validate(s) for s in found["sources"]]

    async def put_source(self, name: str, source: SqlSourceIn) -> SqlSource:
        """Register or replace a SQL source (the admin role)."""
        body = {**source.model_dump(mode="json"), "dsn": source.dsn.get_secret_value()}
        return SqlSource.model_validate(
            await self.request("PUT", f"/v1/sources/{quote(name)}", json=body)
        )

    async def delete_source(self, name: str) -> None:
        await self.request("DELETE", f"/v1/sources/{quote(name)}")

    async def mcp_servers(self) -> list[McpServer]:
        """The tenant's MCP servers the caller may use, with their tools (no header values)."""
        found = await self.request("GET", "/v1/mcp-servers")
        return [McpServer.model_validate(s) for s in found["mcp_servers"]]

    async def put_mcp_server(self, name: str, server: McpServerIn) -> McpServer:
        """Register or replace an MCP server (the admin role); the server must answer."""
        body = {
            **server.model_dump(mode="json"),
            "headers": {k: v.get_secret_value() for k, v in server.headers.items()},
        }
        return McpServer.model_validate(
            await self.request("PUT", f"/v1/mcp-servers/{quote(name)}", json=body)
        )

    async def delete_mcp_server(self, name: str) -> None:
        await self.request("DELETE", f"/v1/mcp-servers/{quote(name)}")

    async def egress(self) -> Egress:
        """The domains the tenant's runs may reach after untrusted content."""
        return Egress.model_validate(await self.request("GET", "/v1/egress"))

    async def set_egress(self, domains: list[str]) -> Egress:
        """Replace the tenant's allowed domains (the admin role)."""
        return Egress.model_validate(
            await self.request("PUT", "/v1/egress", json={"domains": domains})
        )
