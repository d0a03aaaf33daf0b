"""Connecting to Temporal the same way from the API, workers, tests and the dev stack."""

from __future__ import annotations

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError

from aios.artifacts import data_converter
from aios.config import Settings
from aios.errors import TransientError

AGENT_RUN_ID_PREFIX = "run-"


async def connect(settings: Settings, pool: asyncpg.Pool | None) -> Client:
    try:
        return await Client.connect(
            settings.temporal_target,
            namespace=settings.temporal_namespace,
            data_converter=data_converter(pool, threshold_bytes=settings.artifact_threshold_bytes),
        )
    except (RuntimeError, RPCError) as e:
        raise TransientError(
            f"cannot reach Temporal at {settings.temporal_target} ({e}); "
            "set AIOS_TEMPORAL_ADDRESS or start the embedded stack with `aios dev`"
        ) from e
