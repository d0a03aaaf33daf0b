"""Data sources and tools with owners: a tenant's SQL sources, MCP servers and egress allow-list.

A tenant's admins register them through the API (`/v1/sources`, `/v1/mcp-servers`,
`/v1/egress`); they are stored per tenant (aios/stores/sources.py) and each may name the roles
that may use it (none: every role of the tenant). Secrets (a DSN, an MCP server's header values)
go in and never come back out: reads show names, hosts and header names only.

The operator's environment still configures sources at process start (`AIOS_SQL_SOURCES`,
`AIOS_MCP_SERVERS`); those belong to the tenant `AIOS_ENV_SOURCES_TENANT` (`default`, the
development key's tenant) and to no other.

The egress allow-list is what a run or a chat may reach once untrusted content is in its context
(decision 0044): `http_fetch`, `web_search` and MCP tools go only to these domains then, or
wait for a person's approval (a chat, where nobody approves, is refused).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from aios.errors import PolicyDenied, UserError
from aios.vocabulary import Role

NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
MAX_ROLES = 20
MAX_DOMAINS = 200
MAX_HEADERS = 20
# A domain as an allow-list holds it: a host name (`example.com` also allows its subdomains,
# `*.example.com` is the same entry) or an IP address; no scheme, port or path.
_DOMAIN = re.compile(
    r"^(\*\.)?(([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
    r"|\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:]+\])$"
)
_ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def _roles(value: list[str]) -> list[str]:
    bad = [r for r in value if not _ROLE.match(r)]
    if bad:
        raise ValueError(f"not a role name: {bad[0]!r} (lower-case letters, digits, _ and -)")
    return sorted(set(value))


def may_use(required: Iterable[str], roles: Iterable[str] | None) -> bool:
    """Whether a caller with `roles` may use something restricted to `required` (empty: anyone
    of the tenant; `admin` may use everything). None is an unrestricted caller, as a run's roles
    say (`AgentRunInput.roles`: a run started in Temporal directly, by an operator)."""
    needed = set(required)
    if not needed or roles is None:
        return True
    granted = set(roles)
    return Role.ADMIN in granted or bool(needed & granted)


# --- SQL sources ---------------------------------------------------------------------------------


class SqlSourceIn(BaseModel):
    """A SQL source as an admin registers it (`PUT /v1/sources/{name}`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "dsn": "postgresql://reader:secret@db.acme.example/sales",
                    "roles": ["analyst"],
                    "description": "the sales warehouse (read-only)",
                }
            ]
        },
    )

    dsn: SecretStr = Field(
        description="`postgresql://…`; stored, used read-only, never shown again"
    )
    roles: list[str] = Field(
        default_factory=list,
        max_length=MAX_ROLES,
        description="roles that may query it (empty: every role of the tenant)",
    )
    description: str = Field(default="", max_length=500)

    @field_validator("dsn")
    @classmethod
    def _postgres(cls, value: SecretStr) -> SecretStr:
        dsn_host(value.get_secret_value())
        return value

    _check_roles = field_validator("roles")(_roles)


# The only DSN parameters a tenant may set: others make the worker read its own files (passfile,
# sslkey, sslrootcert) or connect elsewhere than the host that was checked (host, hostaddr).
DSN_PARAMETERS = frozenset({"sslmode", "connect_timeout", "application_name"})


def dsn_host(dsn: str) -> str:
    """The one host a tenant's DSN connects to; ValueError for anything else: another scheme,
    no host (a local socket), several hosts, or a parameter outside DSN_PARAMETERS."""
    if not re.match(r"^postgres(ql)?://", dsn) or len(dsn) > 2000:
        raise ValueError("a PostgreSQL URL: postgresql://user:password@host:port/database")
    parts = urlsplit(dsn)
    where = parts.netloc.rsplit("@", 1)[-1]
    if "," in where:
        raise ValueError("one host only (a list of hosts is not accepted)")
    try:
        host = parts.hostname
        parts.port  # noqa: B018 (a port that is not a number raises)
    except ValueError:
        raise ValueError("the host and port do not parse") from None
    if not host:
        raise ValueError("name the database's host: postgresql://user:password@host/database")
    extra = sorted(set(parse_qs(parts.query)) - DSN_PARAMETERS)
    if extra:
        raise ValueError(
            f"the parameter {extra[0]!r} is not accepted (only {', '.join(sorted(DSN_PARAMETERS))})"
        )
    return host


class SqlSource(BaseModel):
    """A SQL source as reads show it: no DSN."""

    name: str
    roles: list[str] = Field(default_factory=list)
    description: str = ""
    origin: Literal["tenant", "environment"] = "tenant"
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


# --- MCP servers ---------------------------------------------------------------------------------


class McpToolInfo(BaseModel):
    name: str
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class McpServerIn(BaseModel):
    """An MCP server as an admin registers it (`PUT /v1/mcp-servers/{name}`): streamable HTTP
    only (a tenant never starts processes on the workers)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://mcp.acme.example/mcp",
                    "headers": {"Authorization": "Bearer …"},
                    "roles": ["operator"],
                    "side_effects": "writes",
                    "requires_approval": True,
                }
            ]
        },
    )

    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2000)
    headers: dict[str, SecretStr] = Field(
        default_factory=dict,
        max_length=MAX_HEADERS,
        description="HTTP headers sent with every call (tokens); stored, never shown again",
    )
    roles: list[str] = Field(default_factory=list, max_length=MAX_ROLES)
    side_effects: Literal["none", "reads", "writes"] = "writes"
    requires_approval: bool = False
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    price_usd: float = Field(
        default=0.0,
        ge=0,
        le=1000,
        description="what one call of any of its tools costs at its provider, reserved in the "
        "spend ledger before it is sent (0: free)",
    )

    _check_roles = field_validator("roles")(_roles)

    @field_validator("url")
    @classmethod
    def _url_has_a_host(cls, value: str) -> str:
        # The pattern lets through what urlsplit refuses ("http://[x", a port that is no number):
        # refused here as a 422, not found later as a 500.
        try:
            parts = urlsplit(value)
            host, _ = parts.hostname, parts.port
        except ValueError as e:
            raise ValueError(f"not a URL: {e}") from None
        if not host:
            raise ValueError("name the server's host: https://host/path")
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, secret in value.items():
            if not re.match(r"^[A-Za-z0-9-]{1,100}$", name):
                raise ValueError(f"not an HTTP header name: {name!r}")
            if any(c in secret.get_secret_value() for c in "\r\n\x00"):
                raise ValueError(f"header {name}: a value may not hold CR, LF or NUL")
        return value


class McpServer(BaseModel):
    """An MCP server as reads show it: header names, never their values."""

    name: str
    url: str
    header_names: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    side_effects: Literal["none", "reads", "writes"] = "writes"
    requires_approval: bool = False
    timeout_s: float = 60.0
    price_usd: float = 0.0
    tools: list[McpToolInfo] = Field(default_factory=list)
    origin: Literal["tenant", "environment"] = "tenant"
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class McpServerSecret(McpServer):
    """What a worker needs to call the server (with the header values)."""

    headers: dict[str, SecretStr] = Field(default_factory=dict)


# --- egress --------------------------------------------------------------------------------------


class EgressIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"domains": ["acme.example", "api.github.com"]}]},
    )

    domains: list[str] = Field(
        max_length=MAX_DOMAINS,
        description="hosts (a domain allows its subdomains; `*.x` is the same as `x`) or IPs",
    )

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        cleaned = []
        for entry in value:
            domain = entry.strip().lower().rstrip(".")
            if not _DOMAIN.match(domain):
                raise ValueError(
                    f"not a domain: {entry!r} (a host such as `acme.example`, without scheme, "
                    "port or path)"
                )
            cleaned.append(domain.removeprefix("*."))
        return sorted(set(cleaned))


class Egress(BaseModel):
    domains: list[str] = Field(default_factory=list)
    updated_by: str | None = None
    updated_at: datetime | None = None


def host_allowed(host: str, domains: Iterable[str]) -> bool:
    """Whether `host` is one of `domains` or a subdomain of one."""
    host = host.lower().rstrip(".").strip("[]")
    for domain in domains:
        domain = domain.strip("[]")
        if host == domain or host.endswith("." + domain):
            return True
    return False


class EgressNotAllowed(PolicyDenied):
    """A tool would reach a host outside the tenant's allowed domains after untrusted content
    entered the context: a run asks a person (the workflow knows this error by its type name,
    EGRESS_DENIED), a chat is refused."""


EGRESS_DENIED = EgressNotAllowed.__name__


class CallInDoubt(UserError):
    """A call with side effects on a server we do not control may or may not have happened (an
    earlier attempt was cut off after journalling it): nothing sends it again until a person
    says so (a run asks at its approval gate, the workflow knowing this error by IN_DOUBT)."""

    http_status = 409
    code = "call_in_doubt"


IN_DOUBT = CallInDoubt.__name__
