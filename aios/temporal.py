"""Connecting to Temporal the same way from the API, workers, tests and the dev stack."""

from __future__ import annotations

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError

from aios import telemetry
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
            interceptors=telemetry.temporal_interceptors(),
            runtime=telemetry.sdk_runtime(settings.temporal_metrics_address),
        )
    except (RuntimeError, RPCError) as e:
        raise TransientError(
            f"cannot reach Temporal at {settings.temporal_target} ({e}); "
            "set AIOS_TEMPORAL_ADDRESS or start the embedded stack with `aios dev`"
        ) from e


async def register_search_attributes(client: Client, namespace: str) -> None:
    """Register AIOS's custom search attributes on a server that lacks them (a cluster, the
    time-skipping test server). Without them every status update would fail the workflow task."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    from aios import search_attributes as sa

    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={
                key.name: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME
                if key is sa.WAITING_SINCE
                else IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                for key in sa.ALL
            },
        )
    )
