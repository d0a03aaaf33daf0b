"""PostgreSQL: the connection pool and ordered SQL migrations.

Migrations are the files `aios/migrations/NNNN_name.sql`, applied in order at start-up inside one
transaction each, recorded in `schema_migrations`, under an advisory lock so that an API and
several workers starting together apply each migration once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import asyncpg

from aios.errors import ConfigurationError, TransientError

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

# asyncpg's own ways of saying the database is gone: a connection that died, a pool that is
# closing, a server shutting down or not yet accepting connections, too many clients. These mean
# the database wherever they are raised (also in a plugin tool's own queries).
DATABASE_CONNECTION_LOSS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
)
# Inside a database call, refused or reset sockets and timeouts mean the same.
CONNECTION_LOSS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    *DATABASE_CONNECTION_LOSS,
)
# A database restart takes seconds; retrying sooner only adds load.
RETRY_AFTER_CONNECTION_LOSS_S = 5.0


def transient_on_connection_loss(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Store methods raise `TransientError` (HTTP 503 with Retry-After, retried by Temporal) when
    PostgreSQL cannot be reached, instead of leaking driver errors that read as bugs."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except CONNECTION_LOSS as e:
            raise connection_lost(e) from e

    return wrapper


def connection_lost(error: BaseException) -> TransientError:
    """The error AIOS reports for a lost or refused database connection."""
    return TransientError(
        f"PostgreSQL is unreachable ({type(error).__name__}: {error}); retrying later should work",
        retry_after=RETRY_AFTER_CONNECTION_LOSS_S,
    )


_MIGRATION_LOCK = 0x41494F53  # "AIOS"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) for each migration, in order."""
    files = sorted(MIGRATIONS_DIR.glob("*.sql"))
    return [(path.stem, path.read_text()) for path in files]


async def migrate(pool: asyncpg.Pool) -> list[str]:
    """Apply pending migrations; returns the versions applied now."""
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, sql in migration_files():
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version) VALUES ($1)", version
                    )
                log.info("applied migration %s", version)
                applied_now.append(version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now


class AiosConnection(asyncpg.Connection):  # type: ignore[misc]
    """asyncpg's connection, able to skip its reset query once: a pooled connection is reset on
    release (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`, one more round
    trip) in case its user left session state behind. After a statement that cannot have (see
    `statement_connection`) the round trip is wasted; open transactions are rolled back and
    listener callbacks dropped on release either way (asyncpg does that without a query)."""

    _skip_reset = False

    def skip_next_reset(self) -> None:
        self._skip_reset = True

    def get_reset_query(self) -> str:
        # Called once per release (Connection.reset): the skip is used up here.
        if self._skip_reset:
            self._skip_reset = False
            return ""
        query: str = super().get_reset_query()
        return query


@contextlib.asynccontextmanager
async def statement_connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection for statements that leave no session state behind (no SET, LISTEN,
    session advisory lock or cursor: a plain INSERT, UPDATE or SELECT), released without the
    reset query. The spend ledger's two statements per model call use it: two round trips fewer
    on every call."""
    async with pool.acquire() as conn:
        skip = getattr(conn, "skip_next_reset", None)  # a pool made elsewhere resets as usual
        if skip is not None:
            skip()
        yield conn


async def connect(database_url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool with the schema migrated; a clear error when the database cannot be reached."""
    try:
        pool = await asyncpg.create_pool(
            database_url,
            min_size=min_size,
            max_size=max_size,
            command_timeout=60,
            connection_class=AiosConnection,
        )
    except (OSError, asyncpg.PostgresError) as e:
        raise TransientError(
            f"cannot reach PostgreSQL ({e}); check AIOS_DATABASE_URL or run `aios dev`"
        ) from e
    except ValueError as e:
        raise ConfigurationError(f"AIOS_DATABASE_URL is not a valid PostgreSQL URL: {e}") from e
    try:
        await migrate(pool)
    except BaseException:
        await pool.close()
        raise
    return pool


# What must be written through a pool before it closes (the spend ledger's deferred settles), by
# the pool's id: asyncpg's Pool takes no weak reference. Added with `before_close`, run by `close`.
_BEFORE_CLOSE: dict[int, list[Callable[[], Awaitable[None]]]] = {}


def before_close(pool: asyncpg.Pool, write: Callable[[], Awaitable[None]]) -> None:
    """Have `close(pool)` await `write()` first (a store's writes that wait to be batched)."""
    _BEFORE_CLOSE.setdefault(id(pool), []).append(write)


async def close(pool: asyncpg.Pool, timeout_s: float = 10) -> None:
    """Close the pool, waiting at most `timeout_s` for connections still held (a stream's LISTEN,
    a query in flight) to come back; then the rest are terminated. asyncpg's own `close()` waits
    for ever: a Ctrl-C on `aios dev` with a stream open hung in it for over a minute. Writes
    waiting to be batched (`before_close`) are made first."""
    for write in _BEFORE_CLOSE.pop(id(pool), []):
        try:
            await asyncio.wait_for(write(), timeout_s)
        except Exception as e:  # the pool closes all the same; the loss is logged
            log.warning("a write before closing the PostgreSQL pool failed: %s", e)
    try:
        await asyncio.wait_for(pool.close(), timeout_s)
    except TimeoutError:
        log.warning("PostgreSQL connections still held after %.0f s: terminated", timeout_s)
        pool.terminate()
