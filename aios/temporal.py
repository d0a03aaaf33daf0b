"""Connecting to Temporal the same way from the API, workers, tests and the dev stack."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from aios import telemetry
from aios.artifacts import data_converter
from aios.config import Settings
from aios.errors import ConfigurationError, TransientError

log = logging.getLogger(__name__)

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


# How the `temporal` CLI spells each indexed value type.
_CLI_TYPE = {"INDEXED_VALUE_TYPE_KEYWORD": "Keyword", "INDEXED_VALUE_TYPE_DATETIME": "Datetime"}


def _indexed_type(key: SearchAttributeKey[Any]) -> IndexedValueType.ValueType:
    return IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{key.indexed_value_type.name}")


async def register_search_attributes(client: Client, namespace: str) -> None:
    """Register AIOS's custom search attributes on a server that lacks them (a cluster, the
    time-skipping test server). Without them every status update would fail the workflow task."""
    from aios import search_attributes as sa

    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={key.name: _indexed_type(key) for key in sa.ALL},
        )
    )


async def missing_search_attributes(client: Client, namespace: str) -> list[str]:
    """AIOS's search attributes the namespace lacks or has with another type, each as the
    `temporal` CLI names it (`AiosStatus=Keyword`)."""
    from aios import search_attributes as sa

    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    have = {**listed.system_attributes, **listed.custom_attributes}
    missing = []
    for key in sa.ALL:
        wanted = _indexed_type(key)
        if have.get(key.name) != wanted:
            missing.append(f"{key.name}={_CLI_TYPE[IndexedValueType.Name(wanted)]}")
    return missing


async def ensure_search_attributes(client: Client, namespace: str, *, create: bool) -> None:
    """At worker start: a namespace without AIOS's search attributes fails every workflow task
    that sets one (runs would sit `running` for ever). Refuse to start, naming them and the
    command that adds them, unless `create` (AIOS_WORKER_CREATE_SEARCH_ATTRIBUTES) allows
    adding them here."""
    try:
        missing = await missing_search_attributes(client, namespace)
    except RPCError as e:
        if e.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
            # Temporal Cloud, or a key without operator rights: nothing to check with.
            log.warning("cannot list the search attributes of %s (%s): not checked", namespace, e)
            return
        raise TransientError(f"cannot list the search attributes of {namespace}: {e}") from e
    if not missing:
        return
    names = ", ".join(missing)
    if create:
        log.info("adding search attributes to namespace %s: %s", namespace, names)
        await register_search_attributes(client, namespace)
        return
    flags = " ".join(
        f"--name {name} --type {kind}" for name, kind in (m.split("=") for m in missing)
    )
    raise ConfigurationError(
        f"namespace {namespace!r} lacks AIOS's search attributes {names} (or has them with "
        f"another type): runs would never leave `running`. Add them with\n"
        f"  temporal operator search-attribute create --namespace {namespace} {flags}\n"
        "or let the worker add them: AIOS_WORKER_CREATE_SEARCH_ATTRIBUTES=true"
    )
