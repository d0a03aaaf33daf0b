"""What every step activity shares: heartbeats and the mapping of errors to Temporal retries."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import pydantic
from temporalio import activity
from temporalio.exceptions import ApplicationError

from aios.db import DATABASE_CONNECTION_LOSS, connection_lost
from aios.errors import AiosError, ValidationFailed, describe_field_errors, to_application_error

log = logging.getLogger("aios.activities")
P = ParamSpec("P")
R = TypeVar("R")

# How often to heartbeat when the activity has no heartbeat timeout (heartbeats still carry
# cancellation to it), and at most how often otherwise.
HEARTBEAT_EVERY_S = 2.0


def heartbeat_interval() -> float:
    """A third of the activity's heartbeat timeout, so two beats may be lost before the server
    gives up on this worker; never slower than HEARTBEAT_EVERY_S."""
    timeout = activity.info().heartbeat_timeout
    if not timeout:
        return HEARTBEAT_EVERY_S
    return max(0.05, min(HEARTBEAT_EVERY_S, timeout.total_seconds() / 3))


@contextlib.asynccontextmanager
async def heartbeating() -> AsyncIterator[None]:
    """Heartbeat in the background while a long await runs, so a dead worker is noticed within the
    heartbeat timeout and a cancellation reaches this activity (as CancelledError at its await).
    A local activity (checking a plan, recording a trace) has no heartbeats: it runs inside the
    workflow's own task."""
    if activity.info().is_local:
        yield
        return
    every_s = heartbeat_interval()

    # The first beat after one interval, not at once: the heartbeat timeout runs from the start
    # of the attempt anyway, and a call that ends sooner (most model calls) costs Temporal no
    # heartbeat write at all.
    async def beat() -> None:
        while True:
            await asyncio.sleep(every_s)
            activity.heartbeat()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def parse_args(model: type[pydantic.BaseModel], args: dict[str, Any], what: str) -> Any:
    """Validate a step's arguments; a bad argument is the plan's fault and is never retried."""
    try:
        return model.model_validate(args)
    except pydantic.ValidationError as e:
        problems = describe_field_errors(e.errors())
        raise ValidationFailed(f"invalid arguments for {what}: {problems}") from None


def classified(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn AIOS errors into Temporal failures (retryable or not, with the attempt number), and
    heartbeat for the whole call."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            try:
                async with heartbeating():
                    return await fn(*args, **kwargs)
            except DATABASE_CONNECTION_LOSS as e:
                # From a plugin tool's own queries (stores already say so): transient, not a bug.
                # A bare OSError or TimeoutError here could be anything, so it is not named so.
                raise connection_lost(e) from e
        except AiosError as e:
            info = activity.info()
            log.info(
                "%s (%s, attempt %d): %s: %s",
                info.activity_type,
                info.workflow_id,
                info.attempt,
                type(e).__name__,
                e.message,
            )
            failure = to_application_error(e)
            raise ApplicationError(
                failure.message,
                {**e.details, "attempt": activity.info().attempt},
                type=failure.type,
                non_retryable=failure.non_retryable,
                next_retry_delay=failure.next_retry_delay,
            ) from e
        except asyncio.CancelledError:
            raise
        except Exception:
            # Not an error AIOS raises on purpose: a bug, worth its traceback. Temporal retries it.
            log.exception("%s failed unexpectedly", activity.info().activity_type)
            raise

    return wrapper
