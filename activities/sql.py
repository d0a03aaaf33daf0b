"""Read-only queries on a tenant's SQL sources: used by SQL ingestion and the `sql_query` tool.
A tenant sees its own sources (registered through `/v1/sources`, aios/sources.py) and, for the
tenant `AIOS_ENV_SOURCES_TENANT` only, the operator's `AIOS_SQL_SOURCES`; another tenant's source
does not exist for it. A query runs in a read-only transaction with a statement timeout, and only
the first `row_limit` rows are read."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from activities.net import FetchPolicy, checked_address
from aios.config import Settings
from aios.errors import NotFound, PolicyDenied, TransientError, UserError
from aios.sources import may_use
from aios.stores.sources import SourceStore


@dataclass(frozen=True)
class SqlSources:
    dsns: dict[str, str]
    row_limit: int = 5000
    timeout_s: float = 30.0

    def dsn(self, name: str) -> str:
        try:
            return self.dsns[name]
        except KeyError:
            known = ", ".join(sorted(self.dsns)) or "none are configured (AIOS_SQL_SOURCES)"
            raise UserError(f"no SQL source named {name!r} (known: {known})") from None


async def pinned_dsn(dsn: str, allow: list[str]) -> str:
    """A tenant's DSN with its host replaced by the address it resolves to now, once that address
    is checked as `http_fetch` checks one (public, or allowed by AIOS_FETCH_ALLOW): a name that
    resolved to a public address when registered cannot lead the workers inside the network
    later. (TLS with `sslmode=verify-full` then verifies the address, not the name.)"""
    parts = urlsplit(dsn)
    address = await checked_address(
        parts.hostname or "", parts.port or 5432, FetchPolicy.from_allow_list(allow)
    )
    where = f"[{address}]" if ":" in address else address
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (f"{userinfo}@" if userinfo else "") + where + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def env_sql_sources(settings: Settings, tenant: str) -> dict[str, str]:
    """The operator's `AIOS_SQL_SOURCES`, which belong to one tenant only."""
    if tenant != settings.env_sources_tenant:
        return {}
    return {k: v.get_secret_value() for k, v in settings.sql_sources.items()}


async def tenant_sql_source(
    pool: asyncpg.Pool,
    settings: Settings,
    tenant: str,
    name: str,
    *,
    roles: Iterable[str] | None,
    roles_checked: bool = False,
) -> SqlSources:
    """The tenant's source `name` (its own registration first, then the environment's when the
    tenant owns those) as SqlSources holding that one DSN. Another tenant's source is unknown
    (NotFound naming the tenant's own); one whose roles the caller lacks is PolicyDenied.
    `roles_checked`: the caller (the API, at ingestion) checked the roles already."""
    limits = {"row_limit": settings.sql_row_limit, "timeout_s": settings.sql_timeout_s}
    store = SourceStore(pool)
    found = await store.sql_source(tenant, name)
    if found is not None:
        source, dsn = found
        if not roles_checked and not may_use(source.roles, roles):
            raise PolicyDenied(
                f"the SQL source {name!r} may be queried by the roles "
                f"{', '.join(source.roles)}; this caller has {', '.join(roles or []) or 'none'}"
            )
        pinned = await pinned_dsn(dsn, settings.fetch_allow)
        return SqlSources({name: pinned}, **limits)  # type: ignore[arg-type]
    env = env_sql_sources(settings, tenant)
    if name in env:
        return SqlSources({name: env[name]}, **limits)  # type: ignore[arg-type]
    known = sorted({s.name for s in await store.list_sql(tenant)} | set(env))
    raise NotFound(
        f"no SQL source named {name!r} "
        + (
            f"(known: {', '.join(known)})"
            if known
            else "(this tenant has none; an admin registers one with PUT /v1/sources/NAME)"
        )
    )


async def read_only_query(
    sources: SqlSources, database: str, query: str, *, row_limit: int | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """The rows (JSON-safe values) and whether there were more than the limit."""
    limit = min(row_limit or sources.row_limit, sources.row_limit)
    try:
        conn = await asyncpg.connect(sources.dsn(database), timeout=10)
    except (OSError, asyncpg.PostgresError) as e:
        raise TransientError(f"cannot connect to the SQL source {database!r}: {e}") from e
    try:
        async with conn.transaction(readonly=True):
            await conn.execute(f"SET LOCAL statement_timeout = {int(sources.timeout_s * 1000)}")
            records: list[asyncpg.Record] = []
            async for record in conn.cursor(query):
                if len(records) == limit:
                    return [_row(r) for r in records], True
                records.append(record)
    except asyncpg.ReadOnlySQLTransactionError as e:
        raise UserError(f"SQL sources are read-only: {e}") from None
    except asyncpg.QueryCanceledError:
        raise UserError(
            f"the query ran longer than {sources.timeout_s:g}s and was cancelled"
        ) from None
    except asyncpg.PostgresError as e:
        raise UserError(f"the query failed: {e}") from None
    finally:
        await conn.close()
    return [_row(r) for r in records], False


def _row(record: asyncpg.Record) -> dict[str, Any]:
    return {key: _jsonable(value) for key, value in dict(record).items()}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)
