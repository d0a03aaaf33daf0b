"""Tools for tests, loaded into workers through AIOS_TOOL_PLUGINS like any plugin.

They record what they did in PostgreSQL (table `test_tool_log`), so tests can see effects even
when the tool ran in another process.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
from pydantic import BaseModel
from temporalio import activity

from activities.tools.registry import Tool, ToolContext, ToolRegistry
from aios.errors import TransientError

SCHEMA = """
CREATE TABLE IF NOT EXISTS test_tool_log (
    id serial PRIMARY KEY,
    run_id text NOT NULL,
    step_id text NOT NULL,
    event text NOT NULL,
    at double precision NOT NULL
)
"""


async def log(ctx: ToolContext, event: str, conn: asyncpg.Connection | None = None) -> None:
    sql = "INSERT INTO test_tool_log (run_id, step_id, event, at) VALUES ($1, $2, $3, $4)"
    if conn is not None:
        await conn.execute(sql, ctx.run_id, ctx.step_id, event, time.time())
    else:
        await ctx.pool.execute(sql, ctx.run_id, ctx.step_id, event, time.time())


class EchoArgs(BaseModel):
    value: Any = None


async def echo(args: EchoArgs, ctx: ToolContext) -> Any:
    return args.value


class SleepArgs(BaseModel):
    seconds: float


async def timed_sleep(args: SleepArgs, ctx: ToolContext) -> dict[str, float]:
    """Sleeps (heartbeating); logs start, end, or that it was cancelled."""
    started = time.time()
    await log(ctx, "started")
    try:
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            activity.heartbeat()
            await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    except asyncio.CancelledError:
        await log(ctx, "cancelled")
        raise
    await log(ctx, "ended")
    return {"started": started, "ended": time.time()}


class FlakyArgs(BaseModel):
    succeed_on_attempt: int
    message: str = "the flaky service is down"


async def flaky(args: FlakyArgs, ctx: ToolContext) -> dict[str, int]:
    attempt = activity.info().attempt
    if attempt < args.succeed_on_attempt:
        raise TransientError(f"{args.message} (attempt {attempt})")
    return {"attempt": attempt}


class SideEffectArgs(BaseModel):
    then_sleep_s: float = 0.0


async def side_effect(args: SideEffectArgs, ctx: ToolContext) -> dict[str, Any]:
    """An effect recorded once per idempotency key, followed by slow work."""

    async def effect(conn: asyncpg.Connection) -> dict[str, Any]:
        await log(ctx, "effect", conn)
        return {"done": True}

    result = await ctx.once("side_effect", effect)
    deadline = time.monotonic() + args.then_sleep_s
    while time.monotonic() < deadline:
        activity.heartbeat()
        await asyncio.sleep(0.2)
    return result


async def quiet_sleep(args: SleepArgs, ctx: ToolContext) -> dict[str, float]:
    """Sleeps without heartbeating: only the activity wrapper's heartbeats keep it alive."""
    await asyncio.sleep(args.seconds)
    return {"slept": args.seconds}


class DbBlipArgs(BaseModel):
    recover_on_attempt: int


async def db_blip(args: DbBlipArgs, ctx: ToolContext) -> dict[str, int]:
    """A write whose database connection drops until the given attempt (a PostgreSQL restart)."""
    attempt = activity.info().attempt
    if attempt < args.recover_on_attempt:
        raise asyncpg.exceptions.ConnectionDoesNotExistError(
            "connection was closed in the middle of operation"
        )
    return {"attempt": attempt}


class BlobArgs(BaseModel):
    size: int


async def blob(args: BlobArgs, ctx: ToolContext) -> dict[str, str]:
    return {"data": "x" * args.size}


def register(registry: ToolRegistry) -> None:
    registry.register(Tool("echo", "Return the value.", EchoArgs, echo))
    registry.register(Tool("timed_sleep", "Sleep and report when.", SleepArgs, timed_sleep))
    registry.register(Tool("flaky", "Fail until an attempt.", FlakyArgs, flaky))
    registry.register(
        Tool(
            "side_effect", "Do something once.", SideEffectArgs, side_effect, side_effects="writes"
        )
    )
    registry.register(Tool("blob", "Return a large output.", BlobArgs, blob))
    registry.register(Tool("quiet_sleep", "Sleep silently.", SleepArgs, quiet_sleep))
    registry.register(
        Tool(
            "db_blip", "Write through a flaky database.", DbBlipArgs, db_blip, side_effects="writes"
        )
    )
    registry.register(
        Tool("hasty_sleep", "Sleep, with a 0.5 s timeout.", SleepArgs, quiet_sleep, timeout_s=0.5)
    )
    registry.register(
        Tool(
            "guarded_echo",
            "Return the value, after approval.",
            EchoArgs,
            echo,
            side_effects="writes",
            requires_approval=True,
        )
    )
