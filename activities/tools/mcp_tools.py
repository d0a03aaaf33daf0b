"""Tools of MCP servers, joined to the registry as `<server>.<tool>` (`AIOS_MCP_SERVERS`).

    AIOS_MCP_SERVERS='{"github": {"url": "https://mcp.example.com/mcp",
                                  "headers_env": {"Authorization": "GITHUB_MCP_TOKEN"}},
                       "files": {"command": "python", "args": ["-m", "my_mcp_server"]}}'

Servers speak streamable HTTP (`url`) or stdio (`command`). Their tools are discovered when a
process starts (a server that does not answer is logged and skipped, not fatal); each call is an
activity like any tool call, opening its own session. Secrets are named by environment variable
and read at call time, so they never enter a workflow history. What an MCP tool returns is
untrusted content. The servers configured here belong to the tenant `AIOS_ENV_SOURCES_TENANT`;
other tenants register their own (`/v1/mcp-servers`, aios/sources.py). Once untrusted content is
in a caller's context, a call goes only to a server whose host is among the tenant's allowed
domains (a stdio server counts as the host `<server>.stdio`), or waits for a person.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpcore2
import jsonschema
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from activities.net import FetchPolicy, FetchRefused, checked_address
from activities.tools.registry import Tool, ToolContext
from aios.errors import ConfigurationError, NotFound, TransientError, UserError
from aios.sources import CallInDoubt, McpServerSecret, McpToolInfo
from aios.stores.mcp_calls import McpCallStore

log = logging.getLogger(__name__)
E = TypeVar("E", bound=BaseException)
DISCOVERY_TIMEOUT_S = 15.0
SEPARATOR = "."
# An argument by one of these names in a tool's schema is its idempotency key: a call with side
# effects gets the step's key there, and is retried like any call. Without one, a call with side
# effects is journalled before it is sent (`_journalled`).
IDEMPOTENCY_ARGUMENTS = ("idempotency_key", "idempotencyKey")


class McpServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, pattern=r"^https?://")
    # HTTP headers whose values come from environment variables: {"Authorization": "ENV_NAME"}.
    headers_env: dict[str, str] = Field(default_factory=dict)
    # HTTP headers with their values (a tenant's server, registered through the API).
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    # Environment for a stdio server: {"VAR": "ENV_NAME"}, values read from this process's env.
    env_from: dict[str, str] = Field(default_factory=dict)
    side_effects: str = Field(default="writes", pattern=r"^(none|reads|writes)$")
    requires_approval: bool = False
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    # What one call of any of the server's tools costs at its provider: reserved in the spend
    # ledger before it is sent (0: free, not an entry).
    price_usd: float = Field(default=0.0, ge=0, le=1000)


class AnyArgs(BaseModel):
    """MCP tools validate against their own JSON schema (see `_validate`)."""

    model_config = ConfigDict(extra="allow")


def _env(name: str, purpose: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise ConfigurationError(f"{purpose} needs the environment variable {name}")
    return value


def _client(config: McpServerConfig, guard: FetchPolicy | None = None) -> Any:
    """A client of the server; `guard` (a tenant's server): every connection goes only to an
    address the policy allows, checked when it is made (as `http_fetch`'s are)."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    if config.url:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        headers = {h: _env(v, f"MCP header {h}") for h, v in config.headers_env.items()}
        headers |= {h: v.get_secret_value() for h, v in config.headers.items()}
        transport = None
        if guard is not None:
            transport = httpx2.AsyncHTTPTransport(retries=0)
            # As activities/net.py does for httpx: the pool's network backend, set after the fact.
            transport._pool._network_backend = _GuardedBackend2(guard, httpcore2.AnyIOBackend())
        http = httpx2.AsyncClient(
            headers=headers, timeout=config.timeout_s, transport=transport, trust_env=guard is None
        )
        return Client(streamable_http_client(config.url, http_client=http))
    if config.command:
        env = {k: _env(v, f"MCP server variable {k}") for k, v in config.env_from.items()}
        return Client(
            StdioServerParameters(command=config.command, args=config.args, env=env or None)
        )
    raise ConfigurationError("an MCP server needs a `url` or a `command`")


class _GuardedBackend2(httpcore2.AsyncNetworkBackend):
    """httpcore2's network backend (the MCP client's), connecting only to addresses `policy`
    allows: activities/net.py's check, for the other HTTP stack."""

    def __init__(self, policy: FetchPolicy, inner: httpcore2.AsyncNetworkBackend) -> None:
        self._policy = policy
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore2's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        address = await checked_address(host, port, self._policy)
        return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore2.AsyncNetworkStream:
        raise FetchRefused("a tenant's MCP server is never reached over a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _validate(schema: dict[str, Any], args: dict[str, Any], name: str) -> None:
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(args), key=str)
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path) or "(arguments)"
        raise UserError(f"invalid arguments for tool {name!r}: {where}: {first.message}")


def mcp_tool(
    server: str, config: McpServerConfig, remote: Any, *, tenant: str | None = None
) -> Tool:
    """A server's tool; `tenant`: a tenant's own server (else the environment's, which belongs
    to AIOS_ENV_SOURCES_TENANT)."""
    name = f"{server}{SEPARATOR}{remote.name}"
    schema: dict[str, Any] = dict(remote.input_schema or {"type": "object"})
    takes = schema.get("properties") or {}
    key_argument = next((k for k in IDEMPOTENCY_ARGUMENTS if k in takes), None)

    async def call(args: AnyArgs, ctx: ToolContext) -> dict[str, Any]:
        settings = ctx.services.settings
        owner = tenant or (settings.env_sources_tenant if settings is not None else ctx.tenant)
        if ctx.tenant != owner:
            # The operator's servers are one tenant's; to the others they do not exist.
            raise NotFound(f"unknown tool {name!r}")
        arguments = args.model_dump()
        writes = config.side_effects == "writes"
        if writes and key_argument is not None:
            # The server takes an idempotency key: a retried call cannot act twice. Always the
            # step's: a key written by a model could repeat another call's, which the server
            # would then drop.
            arguments[key_argument] = ctx.idempotency_key
        _validate(schema, arguments, name)
        journal = McpCallJournal(ctx, name, arguments) if writes and key_argument is None else None
        if journal is not None:
            earlier = await journal.begin()
            if earlier is not None:
                return earlier
        sending = False
        # A tenant's server is reached only at an address the operator lets tenants reach.
        guard = (
            FetchPolicy.from_allow_list(ctx.settings.fetch_allow) if tenant is not None else None
        )
        try:
            # A priced server's call is reserved first: over a cap it is refused, never sent.
            charged = ctx.charged(f"mcp:{name}", config.price_usd)
            async with charged, _client(config, guard) as client:
                sending = True  # from here on the server may act on it
                result = await client.call_tool(remote.name, arguments)
        except BaseException as e:
            if journal is not None and not sending:
                await journal.forget()  # never sent: a retry may send it
            refused = _inner(e, FetchRefused)  # the client's task group wraps what it raised
            if refused is not None:
                raise refused from None
            if isinstance(e, OSError | TimeoutError):
                raise TransientError(f"MCP server {server!r} did not answer: {e}") from e
            raise
        if journal is not None:
            return await journal.end(result)
        return _output(name, result)

    tool = Tool(
        name=name,
        description=remote.description or f"{remote.name} (MCP server {server})",
        args_model=AnyArgs,
        fn=call,
        side_effects=config.side_effects,  # type: ignore[arg-type]
        requires_approval=config.requires_approval,
        timeout_s=config.timeout_s,
        input_schema=schema,
        egress=lambda _args, _ctx: [server_host(server, config)],
    )
    return tool


def _inner(error: BaseException, kind: type[E]) -> E | None:
    """`error` if it is a `kind`, or the first `kind` inside it (exception groups)."""
    if isinstance(error, kind):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _inner(inner, kind)
            if found is not None:
                return found
    return None


def _output(name: str, result: Any) -> dict[str, Any]:
    texts = [getattr(block, "text", "") for block in result.content]
    if result.is_error:
        raise UserError(f"{name}: {' '.join(texts)[:500] or 'the tool reported an error'}")
    return {"content": texts, "structured": result.structured_content}


class McpCallJournal:
    """A call with side effects to a server that takes no idempotency key: journalled as sending
    before it goes out, and its outcome after. An attempt that finds it still `sending` (the one
    before was cut off after sending: a crash, a timeout, a lost connection) cannot know whether
    the server acted, so the call is in doubt and is not sent again until a person says so
    (`ToolContext.resend_in_doubt`)."""

    def __init__(self, ctx: ToolContext, name: str, arguments: dict[str, Any]) -> None:
        self._ctx = ctx
        self._name = name
        self._arguments = arguments
        self._calls = McpCallStore(ctx.pool)

    async def begin(self) -> dict[str, Any] | None:
        """None: send the call now (journalled as sending); else its earlier result. Raises
        CallInDoubt, or the server's earlier refusal."""
        ctx, name = self._ctx, self._name
        digest = hashlib.sha256(json.dumps(self._arguments, sort_keys=True, default=str).encode())
        entry = await self._calls.begin(
            ctx.idempotency_key,
            ctx.tenant,
            name,
            digest.hexdigest(),
            resend=ctx.resend_in_doubt,
        )
        if entry.status == "done":
            return {**(entry.result or {}), "replayed": True}
        if entry.status == "failed":
            raise UserError(entry.error or f"{name}: the tool reported an error")
        if entry.status == "in_doubt":
            raise CallInDoubt(
                f"the call of {name} may or may not have reached its server (an earlier attempt "
                "was cut off after sending it) and it takes no idempotency key: look on the "
                "server whether it happened; it is sent again only if a person says so",
                details={"tool": name, "idempotency_key": ctx.idempotency_key},
            )
        return None

    async def forget(self) -> None:
        await self._calls.forget(self._ctx.idempotency_key)

    async def end(self, result: Any) -> dict[str, Any]:
        key = self._ctx.idempotency_key
        try:
            output = _output(self._name, result)
        except UserError as e:  # the server answered that it did not act
            await self._calls.fail(key, e.message)
            raise
        await self._calls.finish(key, output)
        return output


def server_host(server: str, config: McpServerConfig) -> str:
    """Where a call's arguments go: the URL's host, or `<server>.stdio` for a local process."""
    if config.url:
        return urlsplit(config.url).hostname or ""
    return f"{server}.stdio"


async def discover(servers: dict[str, McpServerConfig]) -> list[Tool]:
    """The tools of every configured server that answers within DISCOVERY_TIMEOUT_S."""
    tools: list[Tool] = []
    for server, config in servers.items():
        try:
            async with asyncio.timeout(DISCOVERY_TIMEOUT_S), _client(config) as client:
                listing = await client.list_tools()
        except Exception as e:  # one server's trouble must not stop AIOS from starting
            log.warning("MCP server %r: tools not loaded: %s", server, e)
            continue
        tools += [mcp_tool(server, config, remote) for remote in listing.tools]
    return tools


def server_configs(raw: dict[str, dict[str, Any]]) -> dict[str, McpServerConfig]:
    from pydantic import ValidationError

    from aios.errors import describe_field_errors

    configs = {}
    for name, value in raw.items():
        try:
            configs[name] = McpServerConfig.model_validate(value)
        except ValidationError as e:
            raise ConfigurationError(
                f"AIOS_MCP_SERVERS[{name!r}]: {describe_field_errors(e.errors())}"
            ) from None
    return configs


# --- a tenant's own servers (registered through /v1/mcp-servers, aios/sources.py) -------------


def tenant_server_config(record: McpServerSecret) -> McpServerConfig:
    return McpServerConfig(
        url=record.url,
        headers=record.headers,
        side_effects=record.side_effects,
        requires_approval=record.requires_approval,
        timeout_s=record.timeout_s,
        price_usd=record.price_usd,
    )


async def list_remote_tools(config: McpServerConfig) -> list[McpToolInfo]:
    """The server's tools (what registering it records); TransientError when it does not
    answer within DISCOVERY_TIMEOUT_S."""
    try:
        async with asyncio.timeout(DISCOVERY_TIMEOUT_S), _client(config) as client:
            listing = await client.list_tools()
    except Exception as e:
        raise TransientError(f"the MCP server did not answer: {type(e).__name__}: {e}") from e
    return [
        McpToolInfo(
            name=t.name,
            description=t.description or "",
            input_schema=dict(t.input_schema or {"type": "object"}),
        )
        for t in listing.tools
    ]


def tenant_tool(tenant: str, record: McpServerSecret, tool_name: str) -> Tool | None:
    """Tool `<server>.<tool_name>` of a tenant's server, as the server listed it when
    registered; None when it listed no such tool."""
    info = next((t for t in record.tools if t.name == tool_name), None)
    if info is None:
        return None
    found = mcp_tool(record.name, tenant_server_config(record), info, tenant=tenant)
    found.roles = frozenset(record.roles)
    return found


# A tenant's servers as a process last read them: every authenticated API request and every
# planning activity asks, so the table is read at most once per tenant every TENANT_TOOLS_TTL_S
# (a change made through another API process shows within that time; this process's own
# changes at once, `forget_tenant_tools`).
TENANT_TOOLS_TTL_S = 5.0
_tenant_cache: dict[str, tuple[float, list[Tool]]] = {}


async def tenant_mcp_tools(pool: Any, tenant: str) -> list[Tool]:
    """The tools of the tenant's own MCP servers (as each listed them when registered), with
    the roles each server allows."""
    import time

    from aios.stores.sources import SourceStore

    now = time.monotonic()
    cached = _tenant_cache.get(tenant)
    if cached is not None and cached[0] > now:
        return cached[1]
    tools = [
        found
        for record in await SourceStore(pool).list_mcp(tenant)
        for info in record.tools
        if (found := tenant_tool(tenant, record, info.name)) is not None
    ]
    _tenant_cache[tenant] = (now + TENANT_TOOLS_TTL_S, tools)
    return tools


def forget_tenant_tools(tenant: str) -> None:
    _tenant_cache.pop(tenant, None)
