"""Read-only queries on the operator's configured databases (`AIOS_SQL_SOURCES`): used by SQL
ingestion and the `sql_query` tool. A query runs in a read-only transaction with a statement
timeout, and only the first `row_limit` rows are read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from aios.errors import TransientError, UserError


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
